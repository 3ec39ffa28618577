"""`python -m training.train`: train one zoo model on one task and save the run.

    python -m training.train --model lstm --task recall --task-param gap=50 --epochs 5
    python -m training.train --config my_run.json --learning-rate 3e-3   # flags override the file
    python -m training.train --resume <run>                              # continue an interrupted run

The work is done by `training.core.loop.train` (importable from here too); this module turns flags
and a config file into a RunConfig and prints the result.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys

from training.core import quiet
from training.core.config import RunConfig
from training.core.flags import add_run_config_flags, key_value as _key_value  # noqa: F401  (_key_value: API)
from training.core.boundary import UsageError, command
from training.core.preflight import check_config_memory, os_error_sentence


def __getattr__(name):
    """`from training.train import train` (and RunError) still works: the loop is imported on first use,
    so that `--help` needs no TensorFlow."""
    if name in ("train", "RunError"):
        from training.core import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser() -> argparse.ArgumentParser:
    """Every RunConfig field is a flag (generated: `training.core.flags`), plus the run's own options."""
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train one rnn-zoo model on one task and save the run under saved_models/.",
        argument_default=argparse.SUPPRESS,  # only flags the user gives override the config file
    )
    add_run_config_flags(p)
    g = p.add_argument_group("run options")
    g.add_argument("--config", help="JSON file of settings, as a run's config.json (flags override it; default: none)")
    g.add_argument("--resume", metavar="RUN",
                   help="continue an interrupted run from its last completed epoch (default: none: a new run)")
    g.add_argument("--dry-run", action="store_true", dest="dry_run", help="build everything and run one step; save nothing")
    g.add_argument("--export", action="store_true", help="also write a TensorFlow SavedModel to <run>/export")
    g.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/ in the checkout)")
    g.add_argument("--list", action="store_true", help="list models and tasks and exit")
    shown = g.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true",
                       help="print only errors and the last line (where the run was saved); no warnings")
    shown.add_argument("--verbose", action="store_true",
                       help="Keras's progress bar with every logged number instead of one line per epoch")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = vars(args).copy()
    base = RunConfig.from_json_file(values.pop("config")).to_dict() if "config" in values else RunConfig().to_dict()
    for key in ("task_params", "model_params"):  # KEY=VALUE pairs add to the file's
        if key in values:
            base[key] = {**(base.get(key) or {}), **dict(values.pop(key))}
    for key in RunConfig.field_names():
        if key in values:
            base[key] = values[key]
    return RunConfig.from_dict(base)


# How datasets' sentence for a corpus it cannot have says to pass a copy (`python -m datasets` syntax).
CORPUS_PHRASE = "as manual_dir=FOLDER"


@command
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # before TensorFlow: --help and a wrong flag answer at once
    options = {k: vars(args).pop(k) for k in ("resume", "dry_run", "export", "root", "quiet", "verbose", "list")
               if k in vars(args)}
    for name, flag, what in (("resume", "--resume", "a run name or a run folder"),
                             ("root", "--saved-models", "a folder")):
        if name in options and not options[name].strip():
            raise UsageError(f"{flag} needs {what}, got an empty string; leave the flag out for the default.")
    if "config" in vars(args) and not args.config.strip():
        raise UsageError("--config needs a JSON file of settings, got an empty string; leave the flag out for the "
                         "defaults.")
    if "resume" in options and vars(args):
        flags = ", ".join(_flag_of(parser, k) for k in vars(args))
        raise UsageError(
            f"--resume continues a run with its own settings (its config.json); drop {flags}, or start a new run "
            "to change them."
        )
    config = config_from_args(args)
    if "resume" not in options and not options.get("list"):
        config.validate()  # every setting checked before TensorFlow is imported
        check_config_memory(config)
    quiet.install()
    from training.core.console import EpochLine
    from training.core.loop import train

    if options.get("list"):
        import datasets
        import zoo

        print("models:", ", ".join(zoo.list_models()))
        print("tasks: ", ", ".join(datasets.list_tasks()))
        return 0
    # the console: one line per epoch (default), Keras's own bar (--verbose), or nothing (--quiet)
    console = [] if options.get("quiet") or options.get("verbose") else [EpochLine()]
    try:
        with _no_warnings() if options.get("quiet") else contextlib.nullcontext():
            result = train(
                config,
                root=options.get("root"),
                resume=options.get("resume"),
                dry_run=options.get("dry_run", False),
                export=options.get("export", False),
                verbose=1 if options.get("verbose") else 0,
                callbacks=console,
            )
    except OSError as e:  # before the run folder exists (a run's own errors come as RunError)
        raise UsageError(os_error_sentence(e, flag="--saved-models")) from None
    except ValueError as e:  # datasets' sentence names its own KEY=VALUE syntax; this command's flag is another
        if CORPUS_PHRASE not in str(e):
            raise
        raise UsageError(str(e).replace(CORPUS_PHRASE, "as --task-param manual_dir=FOLDER")) from None
    _print_summary(result, inspect_hint=not options.get("quiet"))
    if result.get("run_dir") and result["status"] == "finished" and not options.get("quiet"):
        _print_filled_blanks(result["run_dir"])
    return 0 if result["status"] in ("finished",) else 1


def _flag_of(parser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return action.option_strings[0]
    return dest


@contextlib.contextmanager
def _no_warnings():
    """--quiet: no Python warnings, and TensorFlow's Python logger shows errors only, while inside."""
    import logging
    import warnings

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _print_filled_blanks(run_dir) -> None:
    """Cloze tasks: the trained model's answers written into the first test sentences."""
    from training.core.runs import load_run
    from training.evaluate import print_filled_blanks

    run = load_run(run_dir, load_model=False)
    if getattr(run.spec, "answers", None) is not None and getattr(run.spec, "blank_token_id", None) is not None:
        run.load_model()
        print_filled_blanks(run)


def _print_summary(result: dict, inspect_hint: bool = True) -> None:
    """The run's last lines: where it was saved (the last line under --quiet), then the command that draws
    its gradients (`training.inspect`)."""
    status = result["status"]
    if result.get("run_dir") is None:
        print(f"dry run OK: {result['model']} on {result['task']}, {result['parameters']:,} parameters, one step ran; nothing saved.")
        return
    test = result.get("test") or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if k in ("nll", "accuracy", "bits_per_char", "perplexity", "mse"))
    where = result["run_dir"]
    if status == "diverged":
        d = result.get("divergence", {})
        print(f"Run diverged at step {d.get('step')} ({d.get('cause')}); saved as diverged in {where}")
    elif status == "interrupted":
        print(f"Run interrupted at step {result.get('steps_completed')}; continue it with: "
              f"python -m training.train --resume {pathlib.Path(where).name}")
    else:
        print(f"Saved {result['model']} on {result['task']} to {where} (test: {shown}; "
              f"{result.get('tokens_per_second', 0):,.0f} tokens/s, {result['wall_seconds']:.1f} s)")
    if inspect_hint and status in ("finished", "diverged"):
        print(f"Its gradients and learning curve, drawn: python -m training.inspect {where}")


if __name__ == "__main__":
    sys.exit(main())
