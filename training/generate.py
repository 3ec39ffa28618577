"""`python -m training.generate <run> --prompt "ROMEO:" --length 300 --temperature 0.8 --seed 0`:
sample text from a language-model run, one token at a time.

At every step the model reads the last `sequence_length` tokens (the window it was trained on) and the
next token is drawn from softmax(logits / temperature) at the last position (the unknown token
excluded); temperature 0 takes the most likely token.
"""

from __future__ import annotations

import argparse
import math
import sys

from training.core import quiet
from training.core.boundary import UsageError, command


# The library this command used to import at the top, still importable from here, now on first use so
# that `--help` needs no TensorFlow.
_LIBRARY = {"generate": "training.core.generation", "load_run": "training.core.runs"}


def __getattr__(name):
    if name in _LIBRARY:
        import importlib

        return getattr(importlib.import_module(_LIBRARY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run name under saved_models/ or a path to a run folder")
    p.add_argument("--prompt", default="", help="text to start from (tokens outside the vocabulary become <unk>; default: empty)")
    p.add_argument("--length", type=int, default=300, help="tokens to generate (default: 300)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="divides the logits before sampling: lower is more conservative, 0 takes the most likely "
                        "token (default: 0.8)")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampling (default: 0)")
    p.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/)")
    args = p.parse_args(argv)
    from training.evaluate import check_run_arguments

    check_run_arguments(args)
    if not math.isfinite(args.temperature) or args.temperature < 0:
        raise UsageError(f"--temperature must be a finite number >= 0, got {args.temperature}.")
    if args.length < 0:
        raise UsageError(f"--length must be a number of tokens >= 0, got {args.length}.")
    quiet.install()
    from training.core.generation import generate
    from training.core.runs import load_run

    run = load_run(args.run, args.root, load_model=False)
    if run.status == "diverged":
        raise UsageError(f"Run {run.path.name} diverged (step {(run.metadata.get('divergence') or {}).get('step')}): "
                         "its weights are not finite, so it cannot generate text; train it again with a smaller "
                         "learning rate or with clipping.")
    if not run.spec.language_model:
        generate(run, args.prompt, args.length, args.temperature, args.seed)  # raises the sentence
    run.load_model()  # the model matching the run's state
    if run.note:
        print(f"note: {run.note}", file=sys.stderr)
    print(generate(run, args.prompt, args.length, args.temperature, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
