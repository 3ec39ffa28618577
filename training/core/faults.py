"""Named points where a test makes the process die (kill -9) or pause, to prove that a run survives
being killed exactly there. The environment is read here and nowhere else:

    RNN_ZOO_TEST_DIE_AT=checkpoint_write     SIGKILL itself the first time it reaches that point
    RNN_ZOO_TEST_DIE_AT=train_step@7         ... the 7th time (counted in this process)
    RNN_ZOO_TEST_PAUSE_AT=train_step@3       print "rnn-zoo test: paused at train_step@3" on stderr and
                                             sleep until killed (a test acts meanwhile, then kills it)

The points (`point(name)` calls in the training code):

    train_step        after every training step (mid-epoch)
    checkpoint_write  the checkpoint's model file is written, its state file not yet
    final_save        the final model.keras is written to its temporary name, not yet renamed into place

Nothing happens when the variables are unset, which is always the case outside the tests.
"""

from __future__ import annotations

import os
import signal
import sys
import time

DIE_AT = "RNN_ZOO_TEST_DIE_AT"
PAUSE_AT = "RNN_ZOO_TEST_PAUSE_AT"

_counts: dict[str, int] = {}


def _matches(spec: str | None, name: str, count: int) -> bool:
    if not spec:
        return False
    wanted, _, nth = spec.partition("@")
    return wanted == name and count == (int(nth) if nth else 1)


def point(name: str) -> None:
    """Die or pause here if a test asked for it (see the module docstring)."""
    die, pause = os.environ.get(DIE_AT), os.environ.get(PAUSE_AT)
    if not die and not pause:
        return
    _counts[name] = count = _counts.get(name, 0) + 1
    if _matches(die, name, count):
        sys.stderr.write(f"rnn-zoo test: killed at {name}@{count}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if _matches(pause, name, count):
        sys.stderr.write(f"rnn-zoo test: paused at {name}@{count}\n")
        sys.stderr.flush()
        while True:
            time.sleep(60)
