"""TensorBoard HParams summaries for a sweep, so that `tensorboard --logdir <sweep folder>` compares
its runs by their settings (model, initialization, task parameters, seed ...) in the HParams dashboard.

TensorBoard's HParams plugin reads three things (tensorboard.plugins.hparams):

    <sweep>/events...hparams                      the experiment: which hparams and metrics exist
    <sweep>/runs/<id>/tensorboard/events...hparams  one session per run: its hparams, its status,
                                                    and its test metrics as scalars (test_accuracy ...)
    <sweep>/runs/<id>/tensorboard/validation/     Keras's TensorBoard callback: epoch_loss,
    <sweep>/runs/<id>/tensorboard/train/          epoch_accuracy ... (the dashboard takes the last value)

Everything is read from the sweep's own files (sweep.json, each run's metadata.json), so the summaries
can be written at any time, again and again (`write_sweep` replaces what an earlier call wrote); the
events are written with TensorBoard's own writer. What a run was (its gain, kernel, direction, the
sub-question it answers) is derived from its config by `training.sweep.results.what_it_was`, as the
report derives it, never read from a copy beside the config.

Only the settings that differ between the runs of the sweep become hparams columns, plus the ones a
reader always wants (label, model, task, seed, parameters; label only where it says more than the
model): a column that is the same everywhere tells nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import time

from training.core import quiet
from training.core.boundary import UsageError, command


SWEEP_FILE = "sweep.json"
SUFFIX = ".hparams"  # our event files end in this, so a later call can replace them
ALWAYS = ("label", "model", "task", "seed", "parameters")
_CONFIG_KEYS = ("units", "num_layers", "dropout", "embedding_dim", "param_budget", "optimizer", "learning_rate",
                "momentum", "clipnorm", "global_clipnorm", "clipvalue", "tbptt", "batch_size")
# the metrics, in the order the dashboard shows them: (tag, group: the session's subfolder, column name).
# test_*: the run's exact test metrics (written here); epoch_*: the last value Keras's TensorBoard
# callback wrote (validation: the last evaluation; train: the last epoch's running mean); losses in
# nats, MSE for a regression
_METRICS = (
    ("test_accuracy", "", "test accuracy"),
    ("test_bits_per_char", "", "test bits/char"),
    ("test_perplexity", "", "test perplexity"),
    ("test_mse", "", "test MSE"),
    ("test_loss", "", "test loss"),
    ("epoch_accuracy", "validation", "val accuracy"),
    ("epoch_bits_per_char", "validation", "val bits/char"),
    ("epoch_perplexity", "validation", "val perplexity"),
    ("epoch_mse", "validation", "val MSE"),
    ("epoch_loss", "validation", "val loss"),
    ("epoch_loss", "train", "train loss"),
    ("wall_seconds", "", "seconds"),
)


def session_dir(output, entry: dict) -> pathlib.Path:
    """Where a run's session lives: its Keras TensorBoard folder (train/ and validation/ below it)."""
    return pathlib.Path(output) / (entry.get("run_dir") or f"runs/{entry['id']}") / "tensorboard"


def settings(entry: dict, metadata: dict | None = None) -> dict:
    """Every setting of a sweep.json run entry that could be an hparam, as {name: value or None}."""
    from training.sweep import results  # imports zoo's registry, hence TensorFlow: not at import (--help)

    config = entry.get("config") or {}
    values = {
        "experiment": entry.get("experiment"),
        "label": entry.get("label"),
        "model": entry.get("model"),
        "initialization": entry.get("setting"),
        "task": entry.get("task"),
    }
    for key, value in sorted((entry.get("task_params") or {}).items()):
        if key not in results.NOT_SETTINGS:  # where data lives, how much is evaluated: not what was learnt
            values[key] = value
    for key, value in sorted((config.get("model_params") or {}).items()):
        values[f"model.{key}"] = value
    values["seed"] = entry.get("seed")
    values["steps"] = config["epochs"] * config["steps_per_epoch"] if "epochs" in config else None
    for key in _CONFIG_KEYS:
        values[key] = config.get(key)
    for key, value in sorted(results.what_it_was(entry).items()):  # gain, kernel, direction from the config
        values.setdefault(key, value)
    values["parameters"] = (metadata or {}).get("parameters")
    if metadata and metadata.get("units") is not None:
        values["units"] = metadata["units"]  # the width param_budget chose
    return values


def columns(entries: list[dict]) -> dict:
    """{hparam name: "bool" | "number" | "string"} for the settings worth a column in this sweep."""
    seen: dict[str, list] = {}
    for entry in entries:
        for key, value in settings(entry).items():
            seen.setdefault(key, []).append(_plain(value))
    out = {}
    if seen.get("label") == seen.get("model"):
        del seen["label"]  # the label says no more than the model
    for key in list(seen) + [k for k in ALWAYS if k not in seen and k != "label"]:
        values = seen.get(key, [])
        if key not in ALWAYS and len({json.dumps(v, sort_keys=True) for v in values}) < 2:
            continue
        present = [v for v in values if v is not None]
        if key == "parameters" or (present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in present)):
            out[key] = "number"
        elif present and all(isinstance(v, bool) for v in present):
            out[key] = "bool"
        else:
            out[key] = "string"
    return out


def _plain(value):
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def _cast(value, kind: str):
    """A value as its column's type; None when the run has no value (a blank cell)."""
    value = _plain(value)
    if value is None:
        return None
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None
    if kind == "bool":
        return bool(value)
    return str(value)


# ------------------------------------------------------------------------------------------ writing
def write_sweep(output) -> int:
    """Write (or rewrite) the experiment and every run's session of the sweep in `output`.

    Returns:
        the number of runs written (runs never started are left out).
    """
    output = pathlib.Path(output)
    sweep = json.loads((output / SWEEP_FILE).read_text(encoding="utf-8"))
    entries = sweep.get("runs", [])
    kinds = columns(entries)
    written = 0
    for entry in entries:
        written += write_run(output, entry, kinds)
    write_experiment(output, entries, kinds)
    return written


def write_experiment(output, entries: list[dict], kinds: dict | None = None) -> pathlib.Path:
    """The experiment: one hparam per column (with the values the sweep plans) and the metrics."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    kinds = kinds or columns(entries)
    hparams = []
    for key, kind in kinds.items():
        values = sorted({v for v in (_cast(settings(e).get(key), kind) for e in entries) if v is not None},
                        key=lambda v: (str(type(v)), v))
        domain = None
        if key == "parameters":
            domain = None  # known only once a run is built
        elif kind == "bool":
            domain = hp.Discrete([False, True])
        elif values and (kind == "string" or len(values) <= 30):
            domain = hp.Discrete(values)
        elif values:
            domain = hp.RealInterval(float(min(values)), float(max(values)))
        hparams.append(hp.HParam(key, domain))
    metrics = [hp.Metric(tag, group=group, display_name=words, description=f"{tag} in {group or 'the run'}",
                         dataset_type=hp.Metric.VALIDATION if group == "validation" else
                         hp.Metric.TRAINING if group == "train" else None)
               for tag, group, words in _used_metrics(output, entries)]
    summary = hp.hparams_config_pb(hparams, metrics, time_created_secs=time.time())
    return _write(pathlib.Path(output), [summary], step=0)


def write_run(output, entry: dict, kinds: dict) -> int:
    """One run's session: its hparams, its status and its test metrics. Returns 1, or 0 for a run
    that was never started (pending or interrupted before it began)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.plugins.hparams import summary_v2 as hp

    status = entry.get("status")
    if status in (None, "pending"):
        return 0
    output = pathlib.Path(output)
    meta = _metadata(output, entry)
    values = settings(entry, meta)
    hparams = {k: v for k, v in ((k, _cast(values.get(k), kind)) for k, kind in kinds.items()) if v is not None}
    started = _seconds(meta.get("started")) if meta else None
    summaries = [hp.hparams_pb(hparams, trial_id=entry["id"], start_time_secs=started)]
    numbers = {f"test_{k}": v for k, v in ((meta or {}).get("test") or {}).items()}
    numbers["wall_seconds"] = (meta or {}).get("wall_seconds")
    scalars = [summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in numbers.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if scalars:
        summaries.append(summary_pb2.Summary(value=scalars))
    ok = status == "finished"
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.STATUS_SUCCESS if ok else
        api_pb2.STATUS_RUNNING if status == "running" else api_pb2.STATUS_FAILURE,
        end_time_secs=_seconds((meta or {}).get("finished")) or time.time())
    summaries.append(summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=hp_metadata.SESSION_END_INFO_TAG,
        metadata=hp_metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=end)))]))
    _write(session_dir(output, entry), summaries, step=int((meta or {}).get("steps_completed") or 0))
    return 1


def _used_metrics(output, entries):
    """The metrics of `_METRICS` that some run of the sweep has (all of them before any run ended)."""
    have = set()
    for entry in entries:
        meta = _metadata(output, entry)
        for key in (meta or {}).get("test") or {}:
            have.add(key)
    if not have:
        return list(_METRICS)
    return [(tag, group, words) for tag, group, words in _METRICS
            if tag == "wall_seconds" or tag.split("_", 1)[1] in have]


def _metadata(output, entry) -> dict | None:
    if not entry.get("run_dir"):
        return None
    try:
        return json.loads((pathlib.Path(output) / entry["run_dir"] / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _seconds(stamp) -> float | None:
    import datetime

    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return None


def _write(folder: pathlib.Path, summaries, step: int) -> pathlib.Path:
    """Replace this module's event file in `folder` by one holding `summaries`."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    old = list(folder.glob(f"events.out.tfevents.*{SUFFIX}"))
    writer = EventFileWriter(str(folder), filename_suffix=SUFFIX)
    now = time.time()
    for summary in summaries:
        writer.add_event(event_pb2.Event(wall_time=now, step=step, summary=summary))
    writer.close()
    for path in old:
        path.unlink(missing_ok=True)
    return pathlib.Path(writer._file_name)


@command
def main(argv=None) -> int:
    """`python -m training.sweep.hparams <sweep folder>...`: (re)write the HParams summaries of sweeps."""
    p = argparse.ArgumentParser(prog="python -m training.sweep.hparams",
                                description="(Re)write the TensorBoard HParams summaries of sweeps written before "
                                            "compare wrote them, so that `tensorboard --logdir <sweep>` compares "
                                            "their runs.")
    p.add_argument("folders", nargs="+", metavar="SWEEP", help="sweep folders (each holds sweep.json)")
    args = p.parse_args(argv)
    for folder in args.folders:
        if not (pathlib.Path(folder) / SWEEP_FILE).is_file():
            raise UsageError(f"{folder} holds no {SWEEP_FILE}; pass the folder `python -m training.compare` printed.")
    quiet.install()  # TensorFlow's C++ start-up lines held back, as by every command
    for folder in args.folders:
        count = write_sweep(folder)
        print(f"{folder}: HParams summaries of {count} runs; see them with: tensorboard --logdir {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
