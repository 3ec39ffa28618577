"""`compare --plan` ends with its totals (runs, workers, an estimate of the time from measured per-run costs)
and checks that every task's data can be had; a suite reads TFDS's own corpus unless given a folder."""

import dataclasses
import re

import pytest

from training import compare
from training.sweep import experiments as suites
from training.sweep import plan
from training.sweep.experiments.grid import grid

TOTALS = re.compile(r"^(\d+) runs? in (\d+) experiments?, (\d+) worker process(?:es)? \(--jobs\): about (.+?), "
                    r"estimated from the per-run seconds measured in (.+)$")


def _plan_output(capsys, argv):
    code = compare.main(["--plan", *argv])
    captured = capsys.readouterr()
    return code, captured.out.rstrip("\n").splitlines(), captured.err


def test_plan_ends_with_the_number_of_runs_the_workers_and_an_estimate(capsys):
    code, lines, err = _plan_output(capsys, ["--models", "simple_rnn,lstm", "--tasks", "recall,adding",
                                             "--task-param", "recall.gap=5,10", "--seeds", "0,1", "--jobs", "2"])
    assert code == 0, err
    listed = [line for line in lines if line.startswith("  grid--")]
    totals = next(TOTALS.match(line) for line in lines if TOTALS.match(line))
    assert int(totals.group(1)) == len(listed) == 2 * 3 * 2  # models x (2 gaps + adding) x seeds
    assert (int(totals.group(2)), int(totals.group(3))) == (1, 2)
    assert re.fullmatch(r"\d+ s|\d+ min|\d+ h \d\d min", totals.group(4))
    assert plan.MEASURED.commit in totals.group(5) and lines[-1].startswith("Every task's data can be had now")
    assert plan.MEASURED.command in totals.group(5) and plan.MEASURED.commit in totals.group(5)  # its source cited


def test_the_estimate_follows_the_plan_and_the_workers():
    small = [grid(["lstm"], [{"task": "recall", "params": {"gap": 5}}], [0], {"steps": 100})]
    longer = [grid(["lstm"], [{"task": "recall", "params": {"gap": 5}}], [0], {"steps": 1000})]
    more = [grid(["lstm", "gru", "simple_rnn"], [{"task": "recall", "params": {"gap": 5}}], [0, 1], {"steps": 100})]
    one = plan.estimate_seconds(small, 1, cores=2)
    assert plan.estimate_seconds(longer, 1, cores=2) > one  # more training steps cost more
    assert plan.estimate_seconds(more, 1, cores=2) > 5 * one  # six runs one after the other
    assert plan.estimate_seconds(more, 2, cores=2) < plan.estimate_seconds(more, 1, cores=2)  # two cores share them
    assert plan.estimate_seconds(more, 1, skip={r.id for r in more[0].runs}, cores=2) == 0  # all done already


def test_the_makespan_of_runs_on_workers():
    runs = [5, 3, 3, 2, 2, 1]
    assert plan._makespan(runs, 1) == sum(runs)
    assert plan._makespan(runs, 2) == 8  # 5+2+1 | 3+3+2
    assert plan._makespan(runs, 10) == max(runs)


def test_the_estimate_is_made_from_the_measurement_alone(monkeypatch):
    """The measured costs are constants of the measurement: estimating a grid reads no suite plan, so changing
    the quick budget cannot change the estimate of anything else."""
    runs = [grid(["lstm", "gru"], [{"task": "recall", "params": {"gap": 5}}], [0, 1], {"steps": 100})]
    before = plan.estimate_seconds(runs, 2, cores=2)
    monkeypatch.setattr(suites, "seed_problems", lambda *a, **k: pytest.fail("the estimate read a suite's plan"))
    assert plan.estimate_seconds(runs, 2, cores=2) == before


def test_adding_runs_to_the_quick_budget_raises_its_estimate():
    quick = suites.seed_problems("quick")
    extra = grid(["lstm"], [{"task": "recall", "params": {"gap": 100}}], [0, 1, 2], {"steps": 200})
    jobs = suites.default_jobs("quick")
    assert plan.estimate_seconds(quick + [extra], jobs, cores=2) > plan.estimate_seconds(quick, jobs, cores=2)
    fewer = [dataclasses.replace(e, runs=e.runs[: len(e.runs) // 2]) for e in quick]
    assert plan.estimate_seconds(fewer, jobs, cores=2) < plan.estimate_seconds(quick, jobs, cores=2)


def test_the_quick_estimate_is_near_the_measured_sweep():
    """`plan.MEASURED` is a sweep of the quick budget; the estimate of the quick budget as it stands must land
    within 15% of its measured wall time. When the quick budget changes, this fails: time `make demo` again on
    the idle machine and write `python -m training.sweep.calibrate SWEEP` into MEASURED (and docs/results.md)."""
    estimate = plan.estimate_seconds(suites.seed_problems("quick"), plan.MEASURED.workers, cores=plan.MEASURED.cores)
    assert abs(estimate - plan.MEASURED.sweep_seconds) < 0.15 * plan.MEASURED.sweep_seconds, plan.duration(estimate)


def test_calibrate_reads_the_medians_per_token_and_the_span_factor(monkeypatch, tmp_path):
    from training.sweep import results
    from training.sweep.results import RunRow

    def config(steps):
        return {"task": "recall", "task_params": {"gap": 8}, "epochs": 1, "steps_per_epoch": steps, "batch_size": 4}

    tokens = plan._tokens(config(10))
    runs = [{"id": f"a{i}", "status": "finished", "config": config(10 * (i + 1))} for i in range(3)]
    runs.append({"id": "b0", "status": "finished", "config": config(10)})
    runs.append({"id": "b1", "status": "failed", "config": config(10)})
    rows = [RunRow(id=f"a{i}", experiment="a", status="finished", fixed_seconds=1.0 + i,
                   steps_seconds=2.0 * (i + 1)) for i in range(3)]  # 2 s per 10 steps: per token 2 / tokens
    rows += [RunRow(id="b0", experiment="b", status="finished", fixed_seconds=5.0, steps_seconds=1.0),
             RunRow(id="b1", experiment="b", status="failed")]
    sweep = {"runs": runs, "jobs": 1, "wall_seconds": 40.0, "budget": "quick"}
    monkeypatch.setattr(results, "collect", lambda folder: (sweep, rows))
    fields = plan.calibrate(tmp_path)
    assert fields["runs"] == 4 and fields["workers"] == 1
    assert fields["costs"]["a"] == (2.0, pytest.approx(2.0 / tokens, rel=1e-3))
    assert fields["costs"]["b"] == (5.0, pytest.approx(1.0 / tokens, rel=1e-3))
    estimated = sum(f + t * plan._tokens(r["config"]) for r in runs[:4]
                    for f, t in [fields["costs"][r["id"][0]]])  # one worker: the runs one after the other
    assert fields["span_factor"] == pytest.approx(40.0 / estimated, rel=1e-3)
    with pytest.raises(ValueError, match="wall_seconds"):
        monkeypatch.setattr(results, "collect", lambda folder: ({**sweep, "wall_seconds": None}, rows))
        plan.calibrate(tmp_path)


def test_plan_and_compare_refuse_a_corpus_that_cannot_be_had_before_anything_trains(capsys, tmp_path):
    empty = tmp_path / "tfds"
    empty.mkdir()
    argv = ["--models", "lstm", "--tasks", "char_lm", "--task-param", f"data_dir={empty}",
            "--task-param", "download=false", "--task-param", "seq_len=8", "--steps", "2"]
    code, lines, err = _plan_output(capsys, argv)
    assert code == 2 and any(TOTALS.match(line) for line in lines)
    assert err.startswith("error: The data of char_lm cannot be had") and err.count("\n") == 1
    assert "--corpus-dir FOLDER" in err and "--task-param manual_dir=FOLDER" in err and "download=False" in err
    out = tmp_path / "sweep"
    assert compare.main([*argv, "--output", str(out), "--quiet"]) == 2
    assert "cannot be had" in capsys.readouterr().err and not out.exists(), "nothing is trained or written"


def test_a_suite_reads_tfds_own_corpus_unless_given_a_folder(tmp_path):
    def char_lm_params(corpus_dir):
        planned = suites.suite("seed-problems", "quick", experiments=["char_lm"], corpus_dir=corpus_dir)
        return [r.task_params for e in planned for r in e.runs]

    assert all("manual_dir" not in p for p in char_lm_params(None)), "no folder beside the checkout is assumed"
    assert all(p["manual_dir"] == str(tmp_path) for p in char_lm_params(tmp_path))
    assert compare.build_parser().parse_args([]).corpus_dir is None


def _threads_after_an_op():
    """In a worker: run one op, then the intra-op threads TensorFlow runs with."""
    import tensorflow as tf

    float(tf.reduce_sum(tf.ones([4])))
    return tf.config.threading.get_intra_op_parallelism_threads()


def test_workers_share_the_cores_out_as_intra_op_threads():
    from training.sweep.runner import worker_threads

    assert [worker_threads(jobs, cores=2) for jobs in (1, 2, 3, 8)] == [2, 1, 1, 1]
    assert [worker_threads(jobs, cores=16) for jobs in (1, 3, 4, 32)] == [16, 5, 4, 1]


def test_a_worker_process_runs_with_the_threads_it_was_given():
    """The sweep's initializer sets the threads before TensorFlow's first op: a worker spawned as the runner
    spawns them runs its ops with that pool (TensorFlow would refuse the change later, and the pool would
    fail to start)."""
    import concurrent.futures
    import multiprocessing

    from training.sweep.runner import _start_worker

    context = multiprocessing.get_context("spawn")
    for threads in (1, 3):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker,
                                                    initargs=(context.Queue(), None, threads)) as pool:
            assert pool.submit(_threads_after_an_op).result(timeout=300) == threads
