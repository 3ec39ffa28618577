"""The gradient at the cue of a cloze task (`training.instruments.at_answer`): exactly 0 for a causal model
asked at the blank (the cue comes after the loss's step), positive for the same model answering after the cue
and for a bidirectional one; the tasks' `cloze_positions`; the run's metadata and the sweep row that read it."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

import datasets
import zoo
from training.instruments.at_answer import AnswerGradient


def _probe(task, n=16, **params):
    ds, spec = datasets.load_task(task, split="validation", batch_size=n, seed=0, eval_size=n, **params)
    inputs, targets, weights = (t.numpy() for t in next(iter(ds)))
    blank, cue = datasets.get_task(task).cloze_positions(inputs, datasets.get_task(task).resolve(
        {"eval_size": n, **params}))
    return spec, inputs, targets, weights, blank, cue


def _model(name, spec, **kwargs):
    model = zoo.build_model(name, vocabulary_size=len(spec.vocabulary), output=spec.output,
                            num_classes=spec.num_classes, units=8, **kwargs)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


PARAMS = {"length": 12, "distance": 3}


def test_future_cloze_marks_one_cue_the_distance_after_each_blank():
    spec, inputs, _, weights, blank, cue = _probe("future_cloze", **PARAMS)
    assert (cue.sum(axis=1) == 1).all()
    assert (np.argmax(cue, axis=1) == blank + PARAMS["distance"]).all()
    assert (np.argmax(weights, axis=1) == blank).all()  # scored at the blank
    _, late, _, late_weights, late_blank, _ = _probe("future_cloze", answer_delay=2, **PARAMS)
    assert (np.argmax(late_weights, axis=1) == late_blank + PARAMS["distance"] + 2).all()


def test_mouse_cloze_marks_the_words_after_the_blank_and_no_padding():
    _, inputs, _, _, blank, cue = _probe("mouse_cloze")
    for row, b, mask in zip(inputs, blank, cue):
        words = np.nonzero(row != 0)[0]
        assert row[b] == 1 and mask.sum() == (words > b).sum() > 0
        assert not mask[: b + 1].any() and (row[mask] != 0).all()


@pytest.mark.parametrize("task", ["future_cloze", "mouse_cloze"])
def test_a_causal_model_at_the_blank_gets_exactly_zero_from_the_cue_and_answering_late_it_does_not(task):
    params = PARAMS if task == "future_cloze" else {}
    spec, *probe = _probe(task, **params)
    causal = _model("gru", spec)
    at_blank = AnswerGradient(causal)(*probe)
    assert at_blank["ratio"] == 0.0 and at_blank["decades"] is None and at_blank["no_path_examples"] == 16
    offsets, profile = np.array(at_blank["offsets"]), np.array(at_blank["profile"])
    assert (profile[offsets > 0] == 0).all() and (profile[offsets <= 0] > 0).all()  # the past only
    assert profile[offsets == 0][0] == pytest.approx(1.0)  # relative to the scored step's own input
    spec_late, *late = _probe(task, answer_delay=2, **params)
    answering_late = AnswerGradient(_model("gru", spec_late))(*late)
    assert answering_late["ratio"] > 0 and answering_late["no_path_examples"] == 0
    seeing = AnswerGradient(_model("bidirectional_gru", spec))(*probe)
    assert math.isfinite(seeing["decades"]) and seeing["no_path_examples"] == 0
    assert max(seeing["cue_offsets"]) > 0 and min(seeing["cue_offsets"]) > 0


def test_the_measurement_refuses_arrays_of_the_wrong_shape():
    spec, inputs, targets, weights, blank, cue = _probe("future_cloze", **PARAMS)
    with pytest.raises(ValueError, match=r"must be \(n, T\)"):
        AnswerGradient(_model("gru", spec))(inputs, targets, weights, blank, cue[:, :-1])


def test_a_cloze_run_records_the_gradient_at_the_cue_and_the_sweep_row_reads_it(tmp_path):
    from training.core.config import RunConfig
    from training.inspect import inspect_run
    from training.sweep import results
    from training.train import train

    for model, late in (("gru", None), ("gru", 2)):
        params = {"eval_size": 32, **PARAMS, **({"answer_delay": late} if late else {})}
        name = f"{model}-{late}"
        train(RunConfig(model=model, task="future_cloze", task_params=params, units=8, batch_size=16, epochs=1,
                        steps_per_epoch=3, run_name=name, record_gradients=False), root=tmp_path, verbose=0)
        run = tmp_path / name
        meta = json.loads((run / "metadata.json").read_text())
        cue = meta["gradient_at_cue"]
        assert not (run / "gradient_through_time.npz").exists()  # the last step is not what the loss reads
        assert len(cue["offsets"]) == len(cue["profile"]) == len(cue["profile_final"])
        config = json.loads((run / "config.json").read_text())
        row = results.read_run(tmp_path, {"experiment": "x", "id": name, "label": model, "model": model,
                                          "setting": "default", "initialization": "", "task": "future_cloze",
                                          "task_params": params, "seed": 0, "config": config, "run_dir": name,
                                          "status": "finished"})
        if late is None:
            assert cue["ratio"] == 0.0 and row.key_gradient_decades == row.key_gradient_decades_final == -math.inf
        else:
            assert cue["ratio"] > 0 and row.key_gradient_decades == pytest.approx(math.log10(cue["ratio"]))
            assert row.key_gradient_decades_final == pytest.approx(math.log10(cue["ratio_final"]))
        figures, lines = inspect_run(run)  # the run explains itself: the figure and the verdict at the cue
        assert "at_cue.png" in [f.name for f in figures] and "through_time.png" not in [f.name for f in figures]
        assert lines[0].startswith("vanishing: NO PATH: the cue gets exactly 0" if late is None else
                                   "vanishing: no: the cue gets 10^")


def test_a_reused_model_measures_the_cue_with_the_same_trace_and_gets_a_fresh_models_numbers():
    """A sweep worker trains the seeds of a bundle on one traced model (`training.core.reuse`): the gradient at
    the cue is traced once for it (memo) and still measures the weights the model holds now."""
    from training.core.config import RunConfig
    from training.core.loop import _cue_gradient

    spec, *probe = _probe("future_cloze", n=32, answer_delay=2, **PARAMS)
    model = _model("gru", spec)
    ds, _ = datasets.load_task("future_cloze", split="validation", batch_size=32, seed=0, eval_size=32,
                               answer_delay=2, **PARAMS)
    config = RunConfig(model="gru", task="future_cloze", task_params={"eval_size": 32, "answer_delay": 2, **PARAMS},
                       units=8, probe_size=32)
    from training.instruments.memo import memo

    first = _cue_gradient(model, {"validation": ds}, config)
    before = first()
    traced = memo(model, "at_answer", lambda: pytest.fail("the first run kept no AnswerGradient with the model"))
    model.set_weights([w * 0.5 for w in model.get_weights()])  # the next run's initial weights
    second = _cue_gradient(model, {"validation": ds}, config)
    after = second()
    assert memo(model, "at_answer", lambda: None) is traced  # no second AnswerGradient, no second trace
    fresh = AnswerGradient(model)(*probe)
    assert after["ratio"] == pytest.approx(fresh["ratio"], rel=1e-6) and after["ratio"] != before["ratio"]
