"""A sweep's TensorBoard HParams summaries, read back with TensorBoard's own HParams plugin handlers."""

import json
import time

from training.sweep import hparams


def _entry(model, gap, seed, status="finished"):
    run_id = f"grid--{model}--recall-gap{gap}--s{seed}"
    config = {"model": model, "task": "recall", "task_params": {"gap": gap, "eval_size": 500}, "model_params": {},
              "units": 8, "epochs": 2, "steps_per_epoch": 10, "batch_size": 32, "optimizer": "adam",
              "learning_rate": 0.001, "seed": seed}
    return {"id": run_id, "experiment": "grid", "model": model, "setting": "default", "label": model,
            "initialization": "Keras defaults", "task": "recall", "task_params": {"gap": gap, "eval_size": 500},
            "seed": seed, "config": config, "extra": {}, "status": status, "error": None,
            "run_dir": f"runs/{run_id}" if status != "pending" else None, "sweep_seconds": 1.0}


def _fake_sweep(folder):
    """sweep.json, run folders with metadata.json and Keras-style validation scalars: no training."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    entries = [_entry("lstm", 5, 0), _entry("gru", 5, 0), _entry("lstm", 10, 0, status="diverged"),
               _entry("gru", 10, 0, status="pending")]
    (folder / "sweep.json").write_text(json.dumps({"runs": entries}))
    for i, entry in enumerate(entries[:3]):
        run_dir = folder / entry["run_dir"]
        run_dir.mkdir(parents=True)
        test = {"loss": 1.5 + i, "accuracy": 0.5 + i / 10} if entry["status"] == "finished" else None
        (run_dir / "metadata.json").write_text(json.dumps({
            "status": entry["status"], "parameters": 1000 + i, "units": 8, "test": test, "wall_seconds": 3.0,
            "started": "2026-11-25T22:00:00+00:00", "finished": "2026-11-25T22:01:00+00:00", "steps_completed": 20}))
        writer = EventFileWriter(str(run_dir / "tensorboard" / "validation"))
        for step, value in enumerate([0.2, 0.4 + i / 10]):
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag="epoch_accuracy", simple_value=value)])))
        writer.close()
    return entries


def _dashboard(folder):
    """What the HParams dashboard gets: the experiment and the session groups with their metrics."""
    from tensorboard import context
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(folder))
    multiplexer.Reload()
    tb = base_plugin.TBContext(data_provider=MultiplexerDataProvider(multiplexer, str(folder)),
                               multiplexer=multiplexer, logdir=str(folder))
    ctx, request = backend_context.Context(tb), context.RequestContext()
    experiment = get_experiment.Handler(request, ctx, "", api_pb2.GetExperimentRequest()).run()
    query = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100, aggregation_type=api_pb2.AGGREGATION_AVG,
        allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING,
                          api_pb2.STATUS_UNKNOWN])
    for info in experiment.hparam_infos:
        query.col_params.add(hparam=info.name)
    for info in experiment.metric_infos:
        query.col_params.add(metric=info.name)
    groups = list_session_groups.Handler(request, ctx, "", query).run().session_groups
    return experiment, {g.name: g for g in groups}


def test_columns_keep_what_differs_and_what_a_reader_always_wants():
    entries = [_entry("lstm", 5, 0), _entry("gru", 10, 0)]
    assert hparams.columns(entries) == {"model": "string", "gap": "number", "task": "string",
                                        "seed": "number", "parameters": "number"}
    entries[0]["label"] = "lstm [forget_bias_3]"
    assert "label" in hparams.columns(entries)


def test_tensorboard_compares_the_runs_of_a_sweep(tmp_path):
    _fake_sweep(tmp_path)
    assert hparams.write_sweep(tmp_path) == 3
    assert hparams.write_sweep(tmp_path) == 3  # again: replaces, does not add
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    experiment, groups = _dashboard(tmp_path)

    names = {info.name: info for info in experiment.hparam_infos}
    assert set(names) == {"model", "gap", "task", "seed", "parameters"}
    assert sorted(v.string_value for v in names["model"].domain_discrete.values) == ["gru", "lstm"]
    assert sorted(v.number_value for v in names["gap"].domain_discrete.values) == [5, 10]
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert {("", "test_accuracy"), ("", "test_loss"), ("validation", "epoch_accuracy")} <= metrics
    assert ("", "test_bits_per_char") not in metrics  # no run of this sweep has it

    assert set(groups) == {"grid--lstm--recall-gap5--s0", "grid--gru--recall-gap5--s0",
                           "grid--lstm--recall-gap10--s0"}  # the pending run has no session
    gru = groups["grid--gru--recall-gap5--s0"]
    assert gru.hparams["model"].string_value == "gru" and gru.hparams["gap"].number_value == 5
    assert gru.hparams["parameters"].number_value == 1001
    values = {(m.name.group, m.name.tag): m.value for m in gru.metric_values}
    assert abs(values[("", "test_accuracy")] - 0.6) < 1e-6
    assert abs(values[("validation", "epoch_accuracy")] - 0.5) < 1e-6  # the last evaluation
    from tensorboard.plugins.hparams import api_pb2

    assert gru.sessions[0].status == api_pb2.STATUS_SUCCESS
    assert groups["grid--lstm--recall-gap10--s0"].sessions[0].status == api_pb2.STATUS_FAILURE


def test_a_grid_with_tbptt_trains_it_and_shows_it_as_a_hyperparameter():
    """`compare --tbptt K` (or a grid file's "training": {"tbptt": K}) reaches every run's config, and the
    HParams dashboard has a tbptt column where runs differ in it."""
    from training import compare
    from training.sweep.experiments.grid import grid
    from training.sweep.plan import plan_from_args

    args = compare.build_parser().parse_args(["--models", "lstm,gru", "--tasks", "recall", "--tbptt", "5"])
    experiments, _ = plan_from_args(args)
    assert [r.config["tbptt"] for e in experiments for r in e.runs] == [5, 5]
    assert [r.config["tbptt"] for r in grid(["lstm"], ["recall"], training={"tbptt": 3}).runs] == [3]
    assert [r.config["tbptt"] for r in grid(["lstm"], ["recall"]).runs] == [None]
    assert "--tbptt" in compare.build_parser().format_help()

    cut, full = _entry("lstm", 5, 0), _entry("lstm", 5, 1)
    cut["config"]["tbptt"] = 4
    assert hparams.settings(cut)["tbptt"] == 4 and hparams.settings(full)["tbptt"] is None
    assert hparams.columns([cut, full])["tbptt"] == "number"
    assert "tbptt" not in hparams.columns([cut, dict(cut, seed=1)])  # the same everywhere: no column


def test_what_a_run_was_comes_from_its_config_not_a_copy_beside_it():
    """gain, kernel and direction are derived from the config (`results.what_it_was`, as the report does);
    the plan's `extra` only says which of them its experiment varies, and its other keys are no settings."""
    entry = _entry("simple_rnn", 5, 0)
    entry["config"]["model_params"] = {"recurrent_gain": 2.0, "recurrent_initializer": "glorot_uniform"}
    entry["extra"] = {"gain": 9.0, "kernel": "stale", "group": "gain sweep", "solve": {"threshold": 0.9},
                      "sample_length": 100}
    values = hparams.settings(entry)
    assert (values["gain"], values["kernel"], values["group"]) == (2.0, "glorot_uniform", "gain sweep")
    assert values["direction"] is None and "solve" not in values and "sample_length" not in values
    default = _entry("simple_rnn", 5, 1)
    default["extra"] = {"gain": 9.0}  # the builder's own gain (zoo registry), not the plan's word
    assert hparams.settings(default)["gain"] == 1.0
