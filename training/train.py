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
import json
import pathlib
import sys

from training.core.config import OPTIMIZERS, STRATEGIES, RunConfig
from training.core.console import EpochLine
from training.core.loop import RunError, train
from training.core.preflight import os_error_sentence


def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a plain string (a corpus path, a TFDS name ...)
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train one rnn-zoo model on one task and save the run under saved_models/.",
        argument_default=argparse.SUPPRESS,  # only flags the user gives override the config file
    )
    g = p.add_argument_group("model")
    g.add_argument("--model", help="zoo registry key (see `python -m training.train --list`)")
    g.add_argument("--units", type=int, help="hidden size (model width for self_attention)")
    g.add_argument("--num-layers", type=int, dest="num_layers", help="stacked layers")
    g.add_argument("--dropout", type=float, help="dropout between layers")
    g.add_argument("--embedding-dim", type=int, dest="embedding_dim", help="token embedding size (default: units)")
    g.add_argument("--param-budget", type=int, dest="param_budget", help="choose units to match this parameter count")
    g.add_argument("--model-param", type=_key_value, action="append", dest="model_params_list", metavar="KEY=VALUE",
                   help="builder argument, e.g. forget_bias=3 or recurrent_initializer=glorot_uniform (repeatable)")
    g = p.add_argument_group("task")
    g.add_argument("--task", help="datasets registry key")
    g.add_argument("--task-param", type=_key_value, action="append", dest="task_params_list", metavar="KEY=VALUE",
                   help="task parameter, e.g. gap=50, path=my_corpus.txt or manual_dir=../shared/corpora/tiny_shakespeare (repeatable)")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="the optimizer")
    g.add_argument("--learning-rate", type=float, dest="learning_rate", help="learning rate")
    g.add_argument("--momentum", type=float, help="momentum of sgd and rmsprop")
    g.add_argument("--clipnorm", type=float, help="clip each gradient tensor to this norm")
    g.add_argument("--global-clipnorm", type=float, dest="global_clipnorm", help="clip the global gradient norm")
    g.add_argument("--clipvalue", type=float, help="clip every gradient entry to [-v, v]")
    g.add_argument("--batch-size", type=int, dest="batch_size", help="global batch size")
    g.add_argument("--epochs", type=int, help="epochs; the budget is epochs x steps-per-epoch steps")
    g.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch", help="training steps per epoch")
    g.add_argument("--validation-steps", type=int, dest="validation_steps", help="validation batches per epoch (default: the whole split; 0: none)")
    g.add_argument("--seed", type=int, help="seeds data, initialization and dropout")
    g.add_argument("--strategy", choices=STRATEGIES, help="mirrored: tf.distribute.MirroredStrategy over local devices")
    g = p.add_argument_group("gradient recording")
    g.add_argument("--no-record-gradients", action="store_false", dest="record_gradients", help="turn step-gradient recording off")
    g.add_argument("--gradient-every", type=int, dest="gradient_every", help="record every N-th step")
    g.add_argument("--per-variable", action="store_true", dest="per_variable", help="also record every variable's norm")
    g.add_argument("--through-time-every", type=int, dest="through_time_every", help="through-time profile every N steps (0: at the start and after every epoch)")
    g.add_argument("--probe-size", type=int, dest="probe_size", help="examples in the through-time probe batch")
    g.add_argument("--no-through-time", action="store_false", dest="through_time",
                   help="record no gradient-through-time profile")
    g.add_argument("--curve-every", type=int, dest="curve_every",
                   help="learning curve (curve.csv): validation loss/accuracy every N steps (0: none)")
    g.add_argument("--curve-examples", type=int, dest="curve_examples", help="validation examples behind each curve point")
    g.add_argument("--theory", action="store_true", help="the recurrent Jacobian's spectral norm/radius at init (zoo.dynamics)")
    g.add_argument("--no-tensorboard", action="store_false", dest="tensorboard", help="write no TensorBoard logs")
    g = p.add_argument_group("run")
    g.add_argument("--config", help="JSON file of settings (flags override it)")
    g.add_argument("--run-name", dest="run_name", help="folder name under saved_models/ (default: chosen for you)")
    g.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last completed epoch")
    g.add_argument("--dry-run", action="store_true", dest="dry_run", help="build everything and run one step; save nothing")
    g.add_argument("--export", action="store_true", help="also write a TensorFlow SavedModel to <run>/export")
    g.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/ in the checkout)")
    g.add_argument("--list", action="store_true", help="list models and tasks and exit")
    shown = g.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true",
                       help="print only errors and the last line (where the run was saved); no warnings")
    shown.add_argument("--verbose", action="store_true",
                       help="Keras's progress bar with every logged number instead of one line per epoch")
    defaults = RunConfig().to_dict()
    for action in p._actions:  # flags only override, so show the RunConfig default in the help
        if (action.dest in defaults and action.help and defaults[action.dest] is not None
                and "default" not in action.help and not isinstance(action, argparse._StoreFalseAction)):
            action.help += f" (default: {defaults[action.dest]})"
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = vars(args).copy()
    base = RunConfig.from_json_file(values.pop("config")).to_dict() if "config" in values else RunConfig().to_dict()
    if "task_params_list" in values:
        base["task_params"] = {**base.get("task_params", {}), **dict(values.pop("task_params_list"))}
    if "model_params_list" in values:
        base["model_params"] = {**base.get("model_params", {}), **dict(values.pop("model_params_list"))}
    for key in RunConfig.field_names():
        if key in values:
            base[key] = values[key]
    return RunConfig.from_dict(base)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "list", False):
            import datasets
            import zoo

            print("models:", ", ".join(zoo.list_models()))
            print("tasks: ", ", ".join(datasets.list_tasks()))
            return 0
        options = {k: vars(args).pop(k) for k in ("resume", "dry_run", "export", "root", "quiet", "verbose", "list")
                   if k in vars(args)}
        if "resume" in options and vars(args):
            flags = ", ".join(_flag_of(parser, k) for k in vars(args))
            raise ValueError(
                f"--resume continues a run with its own settings (its config.json); drop {flags}, or start a new run "
                "to change them."
            )
        config = config_from_args(args)
        # the console: one line per epoch (default), Keras's own bar (--verbose), or nothing (--quiet)
        console = [] if options.get("quiet") or options.get("verbose") else [EpochLine()]
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
    except (ValueError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # before the run folder exists (a run's own errors come as RunError)
        print(f"error: {os_error_sentence(e)}", file=sys.stderr)
        return 2
    _print_summary(result)
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


def _print_summary(result: dict) -> None:
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
    if status in ("finished", "diverged"):
        print(f"Its gradients and learning curve, drawn: python -m training.inspect {where}")


if __name__ == "__main__":
    sys.exit(main())
