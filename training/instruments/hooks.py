"""How `GradientRecorder` sees the gradients the optimizer really receives in `fit`.

`StepHooks.install` wraps, on the *instances* only (the classes and the saved model are untouched),

    model.train_step         -> calls the model's own train_step, then adds the measurements to its logs
    optimizer.apply          -> measures the gradients it receives, then applies them as before
    optimizer.scale_loss     -> notes the loss of the step (Keras's default train_step calls it)

`uninstall` puts the originals back, so `keras.models.load_model` and later `fit` calls see a plain model.
"""

from __future__ import annotations

import threading


class _StepCapture(threading.local):
    """What the optimizer hooks see during one trace of the train step (one per replica thread)."""

    def __init__(self):
        self.active = False
        self.loss = None
        self.result = None


class StepHooks:
    """The three instance wrappers; `measure(optimizer, grads, variables, loss)` runs inside the traced
    step on the gradients `optimizer.apply` receives and returns a dict that joins the step's logs."""

    def __init__(self):
        self._capture = _StepCapture()
        self._installed = None  # what to restore at uninstall

    @staticmethod
    def remove_stale(model) -> None:
        """Takes off the wrappers of hooks whose `fit` raised before it could remove them."""
        stale = getattr(model.__dict__.get("train_step"), "step_hooks", None)
        if stale is not None:
            stale.uninstall()

    def install(self, model, optimizer, measure) -> None:
        capture = self._capture
        original_train_step = model.train_step
        original_apply = optimizer.apply
        original_scale_loss = optimizer.scale_loss
        had = {
            "train_step": "train_step" in model.__dict__,
            "apply": "apply" in optimizer.__dict__,
            "scale_loss": "scale_loss" in optimizer.__dict__,
        }

        def train_step(data):
            capture.active, capture.loss, capture.result = True, None, None
            try:
                outputs = original_train_step(data)
            finally:
                capture.active = False
            if capture.result is None:
                raise ValueError(
                    "GradientRecorder saw no call to optimizer.apply/apply_gradients in train_step: a custom "
                    "train_step must apply its gradients through model.optimizer."
                )
            if not isinstance(outputs, dict):
                raise ValueError("GradientRecorder needs train_step to return a dict of logs.")
            outputs = dict(outputs)
            outputs.update(capture.result)
            return outputs

        def apply(grads, trainable_variables=None):
            if capture.active:
                if capture.result is not None:
                    raise ValueError(
                        "GradientRecorder supports one optimizer.apply call per train_step; this step calls it "
                        "more than once."
                    )
                variables = trainable_variables
                if variables is None:
                    variables = optimizer._trainable_variables
                capture.result = measure(optimizer, list(grads), list(variables), capture.loss)
            return original_apply(grads, trainable_variables)

        def scale_loss(loss):
            if capture.active and capture.loss is None:
                capture.loss = loss
            return original_scale_loss(loss)

        train_step.step_hooks = self
        model.train_step = train_step
        optimizer.apply = apply
        optimizer.scale_loss = scale_loss
        self._installed = (model, optimizer, original_train_step, original_apply, original_scale_loss, had)

    def uninstall(self) -> None:
        if self._installed is None:
            return
        model, optimizer, train_step, apply, scale_loss, had = self._installed
        for owner, name, original in (
            (model, "train_step", train_step),
            (optimizer, "apply", apply),
            (optimizer, "scale_loss", scale_loss),
        ):
            if had[name]:
                setattr(owner, name, original)
            elif name in owner.__dict__:
                delattr(owner, name)
        self._installed = None
