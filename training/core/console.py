"""What `python -m training.train` prints while it trains: one readable line per epoch with the
numbers a person watches, instead of Keras's bar with every instrument's column.

    epoch  3/10  loss 2.0807  accuracy 0.147 | val loss 2.0813  accuracy 0.128 | grad norm 0.388 mean,
                 1.02 max | 21,748 tokens/s | 0:13 elapsed, ETA 0:31

The gradient part is the epoch's mean and largest step norm (every step, the numbers of gradients.csv),
and says what a person must not miss: `exploding` when the epoch's largest step norm is more than
`EXPLODING_RATIO` times the median of the epoch's steps before it (at least its first 5 others:
`training.core.rules.explosion_ratio`),
`NaN in N steps` when a step's norm was not finite, and
`clipped in N% of steps` when clipping is on and changed the gradient.

On a terminal a compact bar is rewritten in place during the epoch (at most a few times a second) and
replaced by that line when the epoch ends; into a file or a pipe only the epoch lines are written.
The callback only reads `logs`: every metric the instruments and the recorder put there stays there
for the other callbacks (history.csv, TensorBoard).
"""

from __future__ import annotations

import shutil
import sys
import time

import keras

from training.core.rules import EXPLODING_RATIO, exploding, explosion_ratio  # noqa: F401  (re-exported)

# the numbers shown, in this order, when the logs have them: (key in logs, words)
WATCHED = (
    ("accuracy", "accuracy"),
    ("bits_per_char", "bits/char"),
    ("perplexity", "perplexity"),
    ("mse", "mse"),
)


def gradient_words(logs: dict, step_norms=()) -> str:
    """The console's words on the epoch's gradient, from the recorder's epoch statistics (or Keras's
    one-step `grad_norm` when the recorder did not add them); `step_norms`, the epoch's step norms in order,
    decide "exploding" (`training.core.rules.explosion_ratio`)."""
    if "grad_norm_max" not in logs and "grad_nonfinite_steps" not in logs:
        return f"grad norm {_number(logs['grad_norm'], 3)}" if "grad_norm" in logs else ""
    parts = []
    if "grad_norm_max" in logs:
        text = f"grad norm {_number(logs['grad_norm_mean'], 3)} mean, {_number(logs['grad_norm_max'], 3)} max"
        if exploding(explosion_ratio(step_norms)):
            text += ": exploding"
        parts.append(text)
    nonfinite = int(logs.get("grad_nonfinite_steps", 0) or 0)
    if nonfinite:
        parts.append(f"NaN/Inf in {nonfinite} step{'s' if nonfinite != 1 else ''}")
    clipped = logs.get("grad_clipped_fraction")
    if clipped:
        parts.append(f"clipped in {_percent(clipped)} of steps")
    return ", ".join(parts)


def _percent(fraction: float) -> str:
    percent = 100.0 * float(fraction)
    return f"{percent:.0f}%" if percent >= 1 or percent == 0 else f"{percent:.1g}%"


def _number(value, digits=4) -> str:
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:.{digits}g}"


def clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class EpochLine(keras.callbacks.Callback):
    """One line per epoch: loss and the task's metric, the same on validation, the gradient norm,
    tokens per second, elapsed time and the ETA; a compact bar during the epoch on a terminal.

    Put it after the callbacks that add to `logs` (the gradient recorder, the epoch recorder), so
    that their numbers are there when it prints.

    Args:
        epochs: the epoch `fit` stops at (default: the `epochs` given to `fit`).
        steps_per_epoch: training steps per epoch, for the bar (default: `fit`'s `steps_per_epoch`).
        stream: where to write (stdout).
    """

    def __init__(self, epochs: int | None = None, steps_per_epoch: int | None = None, stream=None):
        super().__init__()
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = None
        self._first_epoch = None
        self._epoch = 0
        self._epoch_start = None
        self._last_draw = 0.0
        self._drawn = False
        self._norms: list[float] = []  # the epoch's step norms, in order (for the exploding rule)

    # ---------------------------------------------------------------------------------- keras hooks
    def on_train_begin(self, logs=None):
        params = getattr(self, "params", None) or {}
        self.epochs = self.epochs or params.get("epochs") or 1
        self.steps_per_epoch = self.steps_per_epoch or params.get("steps") or 1
        self._start = time.perf_counter()
        self._first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._norms = []
        if self._first_epoch is None:
            self._first_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs and "grad_norm" in logs:  # the step-gradient recorder's, every step
            self._norms.append(float(logs["grad_norm"]))
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.25 and batch + 1 < self.steps_per_epoch:
            return
        self._last_draw = now
        self._draw(self.bar(batch + 1, logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        line = self.line(epoch, logs or {})
        if self.tty and self._drawn:
            self._draw(line)
            self.stream.write("\n")
            self._drawn = False
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    # ---------------------------------------------------------------------------------- the text
    def line(self, epoch: int, logs: dict) -> str:
        """The epoch's line (`epoch` counted from 0, as Keras does)."""
        width = len(str(self.epochs))
        parts = [f"epoch {epoch + 1:>{width}}/{self.epochs}  " + self._metrics(logs, "")]
        if any(k.startswith("val_") for k in logs):
            parts.append("val " + self._metrics(logs, "val_"))
        parts.append(gradient_words(logs, self._norms))
        if "tokens_per_second" in logs:
            parts.append(f"{float(logs['tokens_per_second']):,.0f} tokens/s")
        parts.append(self._time(epoch + 1))
        return " | ".join(p for p in parts if p)

    def bar(self, step: int, logs: dict) -> str:
        """The in-epoch bar: `epoch 3/10 [=====>    ] 45/100 loss 2.08 accuracy 0.14 grad 0.38`."""
        cells = 20
        done = int(cells * step / max(self.steps_per_epoch, 1))
        bar = "=" * max(done - 1, 0) + (">" if done < cells else "=") + " " * (cells - done)
        text = f"epoch {self._epoch + 1}/{self.epochs} [{bar[:cells]}] {step}/{self.steps_per_epoch} "
        text += self._metrics(logs, "")
        if "grad_norm" in logs:
            text += f"  grad {_number(logs['grad_norm'], 3)}"
        return text

    def _metrics(self, logs: dict, prefix: str) -> str:
        shown = []
        if prefix + "loss" in logs:
            shown.append(f"loss {_number(logs[prefix + 'loss'])}")
        for key, words in WATCHED:
            if prefix + key in logs:
                shown.append(f"{words} {_number(logs[prefix + key])}")
        return "  ".join(shown)

    def _time(self, epochs_done: int) -> str:
        elapsed = time.perf_counter() - (self._start or time.perf_counter())
        done = epochs_done - (self._first_epoch or 0)
        left = self.epochs - epochs_done
        eta = elapsed / done * left if done > 0 else None
        return f"{clock(elapsed)} elapsed" + (f", ETA {clock(eta)}" if eta is not None and left > 0 else "")

    def _draw(self, text: str):
        width = shutil.get_terminal_size((120, 20)).columns - 1
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self._drawn = True
