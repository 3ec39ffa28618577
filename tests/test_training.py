"""The training command and saved runs: train -> save -> load -> evaluate, resume, atomic saves,
determinism, and the one-sentence errors."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from training import evaluate, generate
from training.core import runs
from training.core.config import RunConfig
from training.train import main, train

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(
    model="gru",
    task="recall",
    task_params={"gap": 4, "num_keys": 4, "eval_size": 128},
    units=16,
    batch_size=32,
    epochs=3,
    steps_per_epoch=8,
    learning_rate=1e-2,
    through_time_every=0,
)


def tiny(**overrides):
    return RunConfig(**{**TINY, **overrides})


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_zoo_model_learns_through_train(tmp_path):
    """What a broken model, optimizer, loss or data pipeline could not reach: recall (gap 4, 4 keys) learnt
    far below the chance loss ln 4 in 60 steps."""
    result = train(tiny(epochs=1, steps_per_epoch=60, record_gradients=False, run_name="learns"), root=tmp_path,
                   verbose=0)
    assert result["status"] == "finished"
    assert result["test"]["nll"] < 0.25 * result["chance"]["loss"]
    assert result["test"]["accuracy"] > 0.9


def test_validation_steps_0_leaves_out_the_epoch_end_pass_and_the_curve_still_measures_validation(tmp_path):
    result = train(tiny(epochs=2, steps_per_epoch=5, validation_steps=0, curve_every=5, record_gradients=False,
                        run_name="noval"), root=tmp_path, verbose=0)
    run_dir = pathlib.Path(result["run_dir"])
    history = read_csv(run_dir / "history.csv")
    assert len(history) == 2 and not any(k.startswith("val_") for k in history[0])
    curve = read_csv(run_dir / "curve.csv")
    assert [int(r["step"]) for r in curve] == [0, 5, 10] and all(float(r["val_loss"]) > 0 for r in curve)
    with pytest.raises(ValueError, match="validation_steps must be an integer >= 0"):
        tiny(validation_steps=-1).validate()


def test_train_save_load_evaluate_gives_the_recorded_metrics(tmp_path):
    result = train(tiny(run_name="t1"), root=tmp_path, verbose=0)
    run_dir = pathlib.Path(result["run_dir"])
    assert result["status"] == "finished"
    for name in ("model.keras", "config.json", "task_spec.json", "metadata.json", "history.csv"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["status"] == "finished" and meta["parameters"] > 0 and meta["tokens_per_second"] > 0
    assert meta["versions"]["keras"] == keras.__version__
    # where the time went: every phase measured, together the run's wall time; 3 epochs of steps
    seconds = meta["seconds"]
    phases = ("start", "data", "build", "setup", "first_step", "steps", "fit_other", "evaluate", "save")
    assert all(seconds[p] >= 0 for p in phases) and seconds["steps"] > 0 and seconds["first_step"] > 0
    assert sum(seconds[p] for p in phases) == pytest.approx(seconds["wall"], abs=0.05)
    assert seconds["fixed"] == pytest.approx(seconds["wall"] - seconds["steps"], abs=0.01)
    history = read_csv(run_dir / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1, 2, 3]
    assert {"nll", "accuracy", "val_nll", "val_accuracy", "tokens_per_second"} <= set(history[0])

    metrics, run = evaluate.evaluate_run("t1", root=tmp_path)
    for key in ("nll", "accuracy"):
        assert metrics[key] == pytest.approx(meta["test"][key], rel=1e-6)
    assert run.config.model == "gru" and run.spec.name == "recall"


def test_exact_token_metrics_on_a_weighted_task(tmp_path):
    """future_cloze counts only its blank: the recorded NLL must equal a direct weighted average."""
    result = train(tiny(task="future_cloze", task_params={"eval_size": 64}, run_name="cloze", epochs=1), root=tmp_path, verbose=0)
    run = runs.load_run("cloze", root=tmp_path)
    import datasets

    ds, spec = datasets.load_task("future_cloze", split="test", batch_size=17, seed=0, eval_size=64)
    total = weight = 0.0
    for inputs, targets, weights in ds:
        logits = run.model(inputs).numpy().astype("float64")
        logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
        nll = -np.take_along_axis(logp, targets.numpy()[..., None], -1)[..., 0]
        total += float((nll * weights.numpy()).sum())
        weight += float(weights.numpy().sum())
    assert result["test"]["nll"] == pytest.approx(total / weight, rel=1e-4)


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    full = train(tiny(run_name="full"), root=tmp_path, verbose=0)
    broken = train(tiny(run_name="broken"), root=tmp_path, verbose=0, callbacks=[InterruptAt(epoch=1, batch=3)])
    assert broken["status"] == "interrupted"
    assert len(read_csv(tmp_path / "broken" / "history.csv")) == 1
    resumed = train(RunConfig(), root=tmp_path, resume="broken", verbose=0)
    assert resumed["status"] == "finished"
    a = read_csv(tmp_path / "full" / "history.csv")
    b = read_csv(tmp_path / "broken" / "history.csv")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        for key in ("nll", "accuracy", "val_nll", "val_accuracy", "loss"):
            assert ra[key] == rb[key], (key, ra[key], rb[key])
    assert resumed["test"] == full["test"]


def test_an_interrupted_save_keeps_the_previous_model(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    runs.save_model(model, path)
    before = path.read_bytes()

    def crash(self, filepath, *a, **k):
        pathlib.Path(filepath).write_bytes(b"half a zip")
        raise KeyboardInterrupt  # the process is killed in the middle of writing

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        runs.save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary file left behind


def test_the_final_model_is_the_last_checkpoint_copied_only_when_it_holds_the_weights_as_they_are(tmp_path):
    from training.core import checkpoint
    from training.core.loop import save_final_model

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    checkpoint.save_checkpoint(model, tmp_path, epoch=1, step=int(model.optimizer.iterations.numpy()), history=[])
    save_final_model(model, tmp_path)  # nothing trained since: the checkpoint's file, byte for byte
    kept = checkpoint.model_file_at(tmp_path, int(model.optimizer.iterations.numpy()))
    assert (tmp_path / "model.keras").read_bytes() == kept.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)  # one step past the checkpoint: saved anew, with the new weights
    assert checkpoint.model_file_at(tmp_path, int(model.optimizer.iterations.numpy())) is None
    save_final_model(model, tmp_path)
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert int(loaded.optimizer.iterations.numpy()) == 2
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(),
                                                        keras.models.load_model(kept).get_weights()))


def test_same_seed_same_history_across_processes(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "epochs": 2, "steps_per_epoch": 5, "model": "lstm"}))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [  # the two processes run side by side
        subprocess.Popen(
            [sys.executable, "-m", "training.train", "--config", str(cfg), "--run-name", name,
             "--saved-models", str(tmp_path), "--quiet"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        for name in ("a", "b")
    ]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("tokens_per_second", "epoch_train_seconds")} for r in rows]  # noqa: E731
    assert strip(read_csv(tmp_path / "a" / "history.csv")) == strip(read_csv(tmp_path / "b" / "history.csv"))


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    line = "the quick brown fox jumps over the lazy dog. "
    path.write_text("".join(line[i:] + line[:i] + "\n" for i in range(len(line))) * 6, encoding="utf-8")
    return path


def test_char_lm_run_generates_text_from_its_vocabulary(tmp_path, corpus, capsys):
    result = train(
        tiny(task="char_lm", task_params={"path": str(corpus), "seq_len": 20}, model="lstm", run_name="lm",
             epochs=2, steps_per_epoch=10),
        root=tmp_path, verbose=0,
    )
    assert result["status"] == "finished"
    assert result["test"]["bits_per_char"] == pytest.approx(result["test"]["nll"] / np.log(2))
    run = runs.load_run("lm", root=tmp_path)
    saved = json.loads((tmp_path / "lm" / "vocabulary.json").read_text())
    assert tuple(saved["tokens"]) == run.spec.vocabulary
    metrics, _ = evaluate.evaluate_run("lm", root=tmp_path)
    assert metrics["bits_per_char"] == pytest.approx(result["test"]["bits_per_char"], rel=1e-6)
    text = generate.generate(run, "the ", length=40, temperature=0.8, seed=1)
    assert text.startswith("the ") and len(text) == 4 + 40
    assert set(text) <= set(run.spec.vocabulary)
    assert generate.generate(run, "the ", 40, 0.8, seed=1) == text  # the seed decides the sample
    assert generate.main(["lm", "--prompt", "fox", "--length", "12", "--saved-models", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == 15


def test_generate_refuses_a_run_that_is_not_a_language_model(tmp_path):
    train(tiny(run_name="nolm", epochs=1), root=tmp_path, verbose=0)
    run = runs.load_run("nolm", root=tmp_path)
    with pytest.raises(ValueError, match="not a language model"):
        generate.generate(run, "ab", 5)


def _error_of(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "transformer_xl", "--task", "recall"], "Unknown model 'transformer_xl'"),
        (["--model", "lstm", "--task", "poetry"], "poetry"),
        (["--model", "lstm", "--task", "recall", "--batch-size", "0"], "batch_size must be a positive integer"),
        (["--model", "lstm", "--task", "recall", "--task-param", "gap=-3"], "gap"),
        (["--model", "lstm", "--task", "recall", "--clipnorm", "1", "--global-clipnorm", "1"], "not both"),
        # refused before the corpus is looked for (tiny_shakespeare is not prepared in this test)
        (["--model", "bidirectional_lstm", "--task", "char_lm", "--task-param", "data_dir=EMPTY"], "next-token task"),
        (["--model", "self_attention", "--task", "word_lm", "--model-param", "use_causal_mask=false",
          "--task-param", "path=CORPUS"], "next-token task"),
        (["--model", "lstm", "--task", "recall", "--run-name", "../escape"], "not allowed"),
    ],
)
def test_bad_flags_are_one_sentence_and_save_nothing(capsys, tmp_path, corpus, argv, message):
    argv = [a.replace("CORPUS", str(corpus)).replace("EMPTY", str(tmp_path / "tfds")) for a in argv]
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    err = _error_of(capsys, argv + ["--saved-models", str(runs_dir)])
    assert message in err
    assert list(runs_dir.iterdir()) == []


def test_bad_config_files(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "is not valid JSON" in _error_of(capsys, ["--config", str(bad)])
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"model": "lstm", "colour": "blue"}))
    assert "unknown setting(s) colour" in _error_of(capsys, ["--config", str(unknown)])


def test_bad_run_folders(capsys, tmp_path):
    train(tiny(run_name="good", epochs=1), root=tmp_path, verbose=0)
    root = ["--saved-models", str(tmp_path)]
    assert evaluate.main(["nothing"] + root) == 2
    assert "No run folder" in capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    assert evaluate.main(["empty"] + root) == 2
    assert "lacks config.json" in capsys.readouterr().err

    good_bytes = (tmp_path / "good" / "model.keras").read_bytes()
    import shutil

    shutil.copytree(tmp_path / "good", tmp_path / "corrupt")
    (tmp_path / "corrupt" / "model.keras").write_bytes(good_bytes[: len(good_bytes) // 2])
    assert evaluate.main(["corrupt"] + root) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and "Traceback" not in err

    shutil.copytree(tmp_path / "good", tmp_path / "unsafe")
    lam = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Lambda(lambda x: x * 2)])
    lam.save(tmp_path / "unsafe" / "model.keras")
    assert evaluate.main(["unsafe"] + root) == 2
    assert "unsafe deserialization" in capsys.readouterr().err

    assert generate.main(["good", "--prompt", "a"] + root) == 2
    assert "not a language model" in capsys.readouterr().err
    assert (tmp_path / "good" / "model.keras").read_bytes() == good_bytes  # nothing saved was touched


def test_resume_of_an_unknown_or_finished_run(capsys, tmp_path):
    train(tiny(run_name="done", epochs=1), root=tmp_path, verbose=0)
    assert "already completed" in _error_of(capsys, ["--resume", "done", "--saved-models", str(tmp_path)])
    assert "No run folder" in _error_of(capsys, ["--resume", "ghost", "--saved-models", str(tmp_path)])


def test_run_names_never_collide(tmp_path):
    # The same config twice within one second: the same time-stamped name, so the second gets a suffix.
    a, b = runs.new_run_dir(tiny(), tmp_path), runs.new_run_dir(tiny(), tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
    with pytest.raises(ValueError, match="already exists"):
        runs.new_run_dir(tiny(run_name=a.name), tmp_path)


def test_dry_run_saves_nothing(tmp_path, capsys):
    assert main(["--model", "lstm", "--task", "recall", "--units", "8", "--dry-run", "--quiet", "--saved-models", str(tmp_path)]) == 0
    assert "dry run OK" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_export_serves_any_batch_and_length(tmp_path):
    import tensorflow as tf

    result = train(tiny(run_name="exp", epochs=1), root=tmp_path, verbose=0, export=True)
    loaded = tf.saved_model.load(result["export"])
    run = runs.load_run("exp", root=tmp_path)
    for shape in ((1, 3), (5, 11)):
        x = np.random.default_rng(0).integers(0, run.spec.vocabulary_size, size=shape).astype("int32")
        np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), run.model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_mirrored_strategy_gives_the_single_device_loss(tmp_path):
    import tensorflow as tf

    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs two logical CPU devices (set up in conftest before TensorFlow starts)")
    single = train(tiny(run_name="one", epochs=2), root=tmp_path, verbose=0)
    mirrored = train(tiny(run_name="two", epochs=2, strategy="mirrored"), root=tmp_path, verbose=0)
    for key in ("nll", "accuracy", "val_nll"):
        assert mirrored["final_epoch"][key] == pytest.approx(single["final_epoch"][key], rel=1e-5)
    assert mirrored["test"]["nll"] == pytest.approx(single["test"]["nll"], rel=1e-5)


def test_a_diverging_run_ends_as_diverged(tmp_path, capsys):
    argv = ["--model", "irnn", "--task", "recall", "--task-param", "gap=50", "--task-param", "eval_size=64",
            "--units", "64", "--optimizer", "sgd", "--learning-rate", "0.05", "--model-param", "recurrent_gain=1.5",
            "--epochs", "2", "--steps-per-epoch", "10", "--run-name", "boom", "--quiet", "--saved-models", str(tmp_path)]
    assert main(argv) == 1
    assert "diverged at step" in capsys.readouterr().out
    meta = json.loads((tmp_path / "boom" / "metadata.json").read_text())
    assert meta["status"] == "diverged"
    assert meta["divergence"]["step"] <= 3
    assert any(word in meta["divergence"]["cause"] for word in ("NaN", "infinite", "Inf"))
    assert meta["steps_completed"] < 20  # it stopped instead of running its whole budget
    assert (tmp_path / "boom" / "model.keras").is_file()


def test_help_names_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for field in RunConfig.field_names():
        flag = "--" + {"task_params": "task-param", "model_params": "model-param",
                       "record_gradients": "no-record-gradients", "tensorboard": "no-tensorboard",
                       "through_time": "no-through-time"}.get(field, field.replace("_", "-"))
        assert flag in text, flag
    assert "(default: adam)" in text and "(default: 64)" in text
