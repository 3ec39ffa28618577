"""`python -m training.compare`: train many zoo models on the same tasks and write one report.

    python -m training.compare                            # the seed-problems suite, quick budget
    python -m training.compare --budget full --seeds 0,1,2
    python -m training.compare --experiments exploding,long_term --only-models simple_rnn,lstm
    python -m training.compare --models simple_rnn,lstm,gru --tasks recall,adding \\
        --task-param gap=10,30,100 --steps 300 --seeds 0,1 --param-budget 20000
    python -m training.compare --grid my_grid.json        # see training.sweep.experiments.grid.grid_from_json
    python -m training.compare --executor ray --address auto --output /shared/sweeps/s1   # on a Ray cluster

Every model of an experiment sees the same examples in the same order (the task stream depends only
on the task parameters and the seed), for the same number of optimizer steps, and with
`--param-budget` about the same number of parameters. Each run is an ordinary saved run under
`<output>/runs/<run id>/` (reload it with `training.load_run`); the sweep's plan and the status of every
run are kept in `<output>/sweep.json`, and the report is written to `<output>/report/` (rebuild it
from the saved runs with `python -m training.report <output>`). `tensorboard --logdir <output>` compares
the runs in its HParams dashboard (docs/sweeps-at-scale.md).

A run that fails (an exception) is recorded as failed with its reason and the sweep goes on. Mistakes in
the request itself (an unknown model, a task parameter that does not exist, a bidirectional model on a
next-token task) and a corpus that cannot be had (offline without `--corpus-dir`: char_lm reads TFDS's own
copy, downloaded once) are refused before anything trains. `--plan` lists the runs and ends with their
number, the workers, the time estimated from measured per-run costs (training.sweep.plan.MEASURED, which
names the command and the commit that measured them) and that check of the data.
The same command with the same seeds trains the same numbers: the data streams are stateless
functions of (task parameters, seed) and `train` seeds everything and enables op determinism.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import shlex
import sys

from training.core import quiet
from training.core.boundary import UsageError, command
from training.core.preflight import os_error_sentence
from training.core.config import GRID_DEFAULTS
from training.core.flags import DefaultsHelpFormatter, add_field_flags

# The RunConfig fields a grid takes as flags (their help comes from RunConfig's docstring, their shown
# defaults from GRID_DEFAULTS); `--steps` and `--epochs` are the grid's budget, written below.
GRID_FIELD_FLAGS = ("units", "batch_size", "learning_rate", "optimizer", "global_clipnorm", "tbptt")


def _csv_list(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected at least one {kind.__name__} (a comma-separated list), got {text!r}")
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None

    return parse


def _key_values(text: str):
    """KEY=V1,V2,... -> (key, value or list of values)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,VALUE...], got {text!r}")
    key, raw = text.split("=", 1)
    values = []
    for part in raw.split(","):
        try:
            values.append(json.loads(part))
        except json.JSONDecodeError:
            values.append(part)
    return key.strip(), values if len(values) > 1 else values[0]


# What the module used to import at the top, still importable from here (`compare.run_sweep` ...), now
# on first use so that `--help` needs no TensorFlow.
_LIBRARY = {"check_plan": "training.sweep.plan", "plan_from_args": "training.sweep.plan",
            "default_output": "training.sweep.plan", "run_sweep": "training.sweep.runner",
            "build_report": "training.sweep.document", "SWEEP_FILE": "training.sweep.results"}


def __getattr__(name):
    if name in _LIBRARY:
        import importlib

        return getattr(importlib.import_module(_LIBRARY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser() -> argparse.ArgumentParser:
    """The flags; standard library only, so `--help` needs no TensorFlow. Which suite, budget, experiment
    and executor exist is checked once, by the suite and the runner, with one sentence naming the known
    ones."""
    p = argparse.ArgumentParser(
        prog="python -m training.compare",
        description="Train zoo models side by side on the same tasks and write a report (plots, tables, "
                    "results.json/csv). Without --models/--tasks/--grid it runs the seed-problems suite.",
        formatter_class=DefaultsHelpFormatter,
    )
    g = p.add_argument_group("suite")
    g.add_argument("--suite", default="seed-problems", help="the suite to run (seed-problems is the only one)")
    g.add_argument("--budget", default="quick",
                   help="quick: ~11 minutes on 2 CPU cores (make demo at 0b67f07: README; --plan estimates any budget); "
                        "standard: every variant; full: the real "
                        "numbers, hours; smoke: a pipeline check")
    g.add_argument("--experiments", type=_csv_list(str),
                   help="only these experiments of the suite, comma-separated keys (--plan lists them) (default: all)")
    g.add_argument("--only-models", type=_csv_list(str), dest="only_models",
                   help="only the runs of these models (default: all)")
    g.add_argument("--corpus-dir", dest="corpus_dir",
                   help="folder holding Tiny Shakespeare's input.txt, for a machine without a network (TFDS "
                        "manual_dir of char_lm); default: TFDS's own copy in ~/tensorflow_datasets, downloaded once")
    g = p.add_argument_group("grid (instead of a suite)",
                             "A grid trains with: " + ", ".join(f"{k} {v if v is not None else 'the whole split'}"
                                                                for k, v in GRID_DEFAULTS.items())
                             + " unless told otherwise (training.core.config.GRID_DEFAULTS).")
    g.add_argument("--grid", help="JSON file of one grid or {\"experiments\": [grids]} (default: none: the suite, "
                                  "or the grid --models/--tasks give)")
    g.add_argument("--models", type=_csv_list(str), help="zoo models, comma-separated (default: none: the suite)")
    g.add_argument("--tasks", type=_csv_list(str), help="tasks, comma-separated (default: none: the suite)")
    g.add_argument("--task-param", type=_key_values, action="append", dest="task_params", metavar="KEY=V1,V2",
                   help="task parameter for every task of the grid, or TASK.KEY=... for one task; several values "
                   "are swept (repeatable; default: the task's own values)")
    g.add_argument("--model-param", type=_key_values, action="append", dest="model_params", metavar="KEY=VALUE",
                   help="builder argument for every model of the grid (repeatable; default: the builder's own values)")
    g.add_argument("--steps", type=int, metavar="N",
                   help=f"optimizer steps per run (default: {GRID_DEFAULTS['steps']})")
    g.add_argument("--epochs", type=int, metavar="N",
                   help=f"evaluations per run (steps must be a multiple) (default: {GRID_DEFAULTS['epochs']})")
    add_field_flags(g, GRID_FIELD_FLAGS, defaults=GRID_DEFAULTS)
    g = p.add_argument_group("both")
    g.add_argument("--seeds", type=_csv_list(int), help="training seeds (default: the budget's, or 0 for a grid)")
    add_field_flags(g, ["param_budget"], helps={
        "param_budget": "give every model about this many parameters (its width is chosen to match)"})
    g.add_argument("--output", help="sweep folder (default: saved_models/compare-<name>-<budget>-<time>)")
    g.add_argument("--resume", action="store_true", help="continue the sweep in --output, keeping finished runs")
    g.add_argument("--plan", action="store_true", help="print the planned runs and exit without training")
    g.add_argument("--jobs", type=int, default=None,
                   help="worker processes training runs side by side (default: 3 for the quick and standard "
                        "budgets, 1 for the full and smoke budgets and a grid; the numbers do not change, but for "
                        "last digits that a worker's threads change: docs/results.md); with "
                        "--executor ray the CPUs of the local Ray instance (1: all)")
    g.add_argument("--executor",
                   help="how runs are trained: local (in this process), processes (--jobs worker processes), ray "
                        "(one Ray task each, on --address or a local instance; `make ray`). Default: local for "
                        "--jobs 1, else processes")
    g.add_argument("--address", help="Ray cluster for --executor ray: auto, HOST:6379 or ray://HOST:10001 "
                                     "(--output must then be on storage every node mounts; docs/sweeps-at-scale.md; "
                                     "default: a local instance)")
    g.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def check_arguments(args) -> None:
    """Every flag that cannot work, refused before TensorFlow is imported (what the suite, the grid and the
    runner know is checked when the plan is made)."""
    from training.core.config import RunConfig
    from training.core.preflight import check_folder_can_be_made, check_memory

    for name in ("steps", "epochs", "units", "batch_size", "param_budget", "jobs", "tbptt"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value}.")
    for name in ("learning_rate", "global_clipnorm"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number, got {value}.")
    if args.optimizer is not None:
        RunConfig(optimizer=args.optimizer).validate()
    if args.seeds and min(args.seeds) < 0:
        raise UsageError(f"--seeds must be integers >= 0, got {', '.join(map(str, args.seeds))}.")
    if args.param_budget is not None:
        check_memory(args.param_budget, what=f"A model of --param-budget {args.param_budget:,}")
    if args.output is not None and not args.plan:
        check_folder_can_be_made(args.output, "the --output folder", flag="--output")
    for name in ("grid", "corpus_dir", "address", "executor"):
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise UsageError(f"--{name.replace('_', '-')} needs a value, got an empty string.")


@command
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # before TensorFlow: --help and a wrong flag answer at once
    check_arguments(args)
    quiet.install()
    from training.sweep import experiments as suites
    from training.sweep.document import build_report
    from training.sweep.plan import check_plan, corpus_problems, default_output, plan_from_args
    from training.sweep.results import SWEEP_FILE
    from training.sweep.runner import run_sweep

    output = None
    experiments, description = plan_from_args(args)
    description["command"] = "python -m training.compare" + (" " + shlex.join(argv) if argv else "")
    jobs = args.jobs if args.jobs is not None else suites.default_jobs(description.get("budget"))
    unavailable = check_plan(experiments)  # a request that cannot work is refused before the plan is shown
    if args.plan:
        return _print_plan(experiments, jobs, args, unavailable)
    if unavailable:  # offline without a local copy: say so now, not after the other runs have trained
        raise UsageError(" ".join(s[0].upper() + s[1:] for s in corpus_problems(unavailable, experiments)))
    output = pathlib.Path(args.output) if args.output else default_output(description["name"], description["budget"])
    again = description["command"] + ("" if "--output" in argv else f" --output {output}")
    again += "" if "--resume" in argv else " --resume"
    try:
        sweep = run_sweep(experiments, output, description=description, resume=args.resume, verbose=not args.quiet,
                          jobs=jobs, executor=args.executor, address=args.address, unavailable=unavailable)
    except KeyboardInterrupt:
        if (output / SWEEP_FILE).is_file():
            print(f"\ninterrupted; the report covers the runs done so far: {build_report(output)}\n"
                  f"continue with: {again}", file=sys.stderr)
        return 130
    except OSError as e:  # sweep.json and every run are written atomically: the folder is left consistent
        if not e.filename:  # a write through a file descriptor (a full disk) names no file: name the sweep's folder
            e = OSError(e.errno, e.strerror, str(output))
        sentence = os_error_sentence(e, flag="--output")
        if (output / SWEEP_FILE).is_file():
            sentence += f" The finished runs are kept: continue with {again}"
        raise UsageError(sentence) from None
    report_dir = build_report(output)
    statuses = [r["status"] for r in sweep["runs"]]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    print(f"{len(statuses)} runs ({counts}) in {sweep['wall_seconds']:.0f} s")
    print(f"report: {report_dir}")
    failed = [r for r in sweep["runs"] if r["status"] == "failed"]
    if failed:
        print(f"error: {len(failed)} of {len(statuses)} runs failed (the first, {failed[0]['id']}: "
              f"{failed[0].get('error')}); fix the cause and train them again with: {again}", file=sys.stderr)
        return 1
    return 0


def _print_plan(experiments, jobs: int, args, unavailable: dict) -> int:
    """The planned runs (`check_plan` passed them: `unavailable` holds the tasks whose data cannot be had),
    then their number, the workers, the estimated time and whether every task's data can be had (a corpus
    offline); exit status 2 when one cannot."""
    from training.sweep.plan import MEASURED_WHERE, corpus_problems, duration, estimate_seconds
    from training.sweep.results import SWEEP_FILE
    from training.sweep.runner import DONE

    for e in experiments:
        print(f"{e.key}: {e.title} ({len(e.runs)} runs)")
        for r in e.runs:
            print(f"  {r.id}")
        for note in e.omitted:
            print(f"  [left out by this budget] {note}")
    done = set()
    if args.resume and args.output and (pathlib.Path(args.output) / SWEEP_FILE).is_file():
        sweep = json.loads((pathlib.Path(args.output) / SWEEP_FILE).read_text(encoding="utf-8"))
        done = {r["id"] for r in sweep.get("runs", []) if r.get("status") in DONE}
    runs = sum(len(e.runs) for e in experiments)
    left = f", {runs - len(done & {r.id for e in experiments for r in e.runs})} left to train" if done else ""
    print(f"\n{runs} run{'s' if runs != 1 else ''} in {len(experiments)} experiment{'s' if len(experiments) != 1 else ''}{left}, "
          f"{jobs} worker process{'es' if jobs != 1 else ''} (--jobs): about "
          f"{duration(estimate_seconds(experiments, jobs, skip=done))}, estimated from the per-run seconds measured "
          f"in {MEASURED_WHERE}; a busier or another machine takes longer.")
    problems = corpus_problems(unavailable, experiments)
    for sentence in problems:
        print(f"error: {sentence[0].upper() + sentence[1:]}", file=sys.stderr)
    if not problems:
        print("Every task's data can be had now" + (", Tiny Shakespeare's included." if any(
            r.task in ("char_lm", "word_lm") for e in experiments for r in e.runs) else "."))
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
elif __name__ == "__mp_main__":
    # A sweep's worker processes are spawned: each runs this module as `__mp_main__` before it takes its
    # first run, so their TensorFlow start-up lines are held back as this process's are.
    quiet.install()
