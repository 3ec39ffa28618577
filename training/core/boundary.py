"""The error boundary of every command: what the user can fix is one sentence and exit status 2, a bug
of rnn-zoo is its traceback and one line saying so.

    from training.core.boundary import UsageError, command

    @command
    def main(argv=None) -> int:
        args = parser.parse_args(argv)
        if args.units < 1:
            raise UsageError(f"--units must be at least 1, got {args.units}.")
        ...

What `command` turns into `error: <one sentence>` on stderr and exit status 2:

    UsageError, ValueError     a setting, a flag or a file that cannot work (the sentence is the message;
                               the project's checks raise ValueError with one sentence, before any
                               TensorFlow work where they can)
    OSError                    permission denied, read-only file system, disk full, not a folder, a
                               folder, a name too long ... (`preflight.os_error_sentence`, naming the path)
    json.JSONDecodeError       a hand-edited JSON file, named where the reader knows it
    MemoryError, TensorFlow's ResourceExhaustedError   out of memory (but a full disk when TensorFlow says
                               "No space left on device": it reports one so while writing a file)

Ctrl-C is exit status 130 with one line. Anything else is a bug: its traceback, then `BUG_LINE`, exit 1.
Before `main` runs, `prepare_environment` points Keras's, TFDS's and Matplotlib's cache folders at a
temporary folder when HOME is unset or cannot be written, so that no command fails on them.

Standard library only: the boundary is in place before TensorFlow is imported.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import sys
import tempfile
import traceback

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
BUG_LINE = ("This is a bug in rnn-zoo, not a mistake in your command: please report it with the traceback "
            "above and the command you ran.")
MAX_SENTENCE = 600  # characters of a message shown; a longer one (a library's) is cut


class UsageError(ValueError):
    """A mistake the user can fix (a flag, a setting, a file): printed as one sentence, exit status 2.

    A ValueError, so that library code that catches ValueError (the sweep's planning, the tests) treats
    it as every other refusal of a setting."""


def command(main):
    """Wrap a command's `main(argv=None) -> int` in the boundary (see the module docstring)."""

    @functools.wraps(main)
    def wrapper(argv=None):
        return run(main, argv)

    wrapper.unwrapped = main
    return wrapper


def run(main, argv=None) -> int:
    """Call `main(argv)` inside the boundary; returns the exit status."""
    prepare_environment()
    try:
        code = main(argv)
    except SystemExit:
        raise  # argparse's own answer (--help, a wrong flag: exit 2 with its usage line)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as error:  # noqa: BLE001 - the boundary decides what each one becomes
        sentence = sentence_for(error)
        if sentence is None:
            traceback.print_exc()
            print(BUG_LINE, file=sys.stderr)
            return EXIT_BUG
        print(f"error: {sentence}", file=sys.stderr)
        return EXIT_USAGE
    return 0 if code is None else int(code)


def sentence_for(error: BaseException) -> str | None:
    """The one sentence a user's mistake or the environment's refusal becomes; None for a bug."""
    from training.core.preflight import disk_full_from_tensorflow, os_error_sentence

    if isinstance(error, json.JSONDecodeError):
        return (f"A JSON file is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
                "fix the file or restore it from a copy.")
    if isinstance(error, ValueError):
        return one_sentence(str(error)) or f"{type(error).__name__} without a message."
    if isinstance(error, OSError):
        return os_error_sentence(error)
    disk = disk_full_from_tensorflow(error)  # TensorFlow's word for a full disk met while writing a file
    if disk is not None:
        return os_error_sentence(disk)
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return "Out of memory; choose fewer units, layers or a smaller batch size (or close other programs)."
    if type(error).__name__ == "RunError":  # training.core.loop's, for code that predates UsageError
        return one_sentence(str(error))
    return None


def one_sentence(text: str) -> str:
    """A message on one line, cut to `MAX_SENTENCE` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_SENTENCE else text[: MAX_SENTENCE - 3] + "..."


# ------------------------------------------------------------------------------ HOME and cache folders

# (environment variable, the folder the library uses without it, relative to HOME)
CACHE_FOLDERS = (("KERAS_HOME", ".keras"), ("TFDS_DATA_DIR", "tensorflow_datasets"),
                 ("MPLCONFIGDIR", os.path.join(".config", "matplotlib")))


def _usable(folder: str) -> bool:
    """A file can be created in `folder`, or `folder` can be created: probed in the folder or its nearest
    existing parent with a real temporary file (root passes os.access on any folder, and os.access
    sees neither a full disk nor a read-only mount); nothing is left behind, no folder is made."""
    probe_in = folder
    while not os.path.isdir(probe_in):
        parent = os.path.dirname(probe_in)
        if parent == probe_in or os.path.lexists(probe_in):
            return False  # a file where a folder must be, or no existing parent
        probe_in = parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".rnn-zoo-write-test-", dir=probe_in)
        os.close(fd)
        os.remove(probe)
        return True
    except OSError:
        return False


def prepare_environment() -> dict:
    """Keras, TFDS and Matplotlib keep caches under HOME. Where HOME is unset and has no home folder, or its
    cache folder cannot be written (a read-only container, a service account), point each at
    `<tmp>/rnn-zoo-<uid>/<name>` instead, unless the user set its variable. Returns the variables set
    (nothing when HOME works)."""
    home = os.path.expanduser("~")
    missing = [var for var, rel in CACHE_FOLDERS if var not in os.environ
               and not (os.path.isabs(home) and home != "/" and _usable(os.path.join(home, rel)))]
    chosen = {}
    if missing:
        base = _own_temporary_folder()
        for var, rel in CACHE_FOLDERS:
            folder = os.path.join(base, os.path.basename(rel))
            if var in missing and _usable(folder):
                os.makedirs(folder, exist_ok=True)
                os.environ[var] = chosen[var] = folder
    return chosen


def _own_temporary_folder() -> str:
    """`<tmp>/rnn-zoo-<uid>`, where caches go when HOME cannot take them. The temporary folder is shared by
    every user: one that another user made first (or a link) is not trusted, since Keras reads keras.json and
    TFDS reads prepared data from there; then a fresh folder of this user's own (mode 700) is made instead."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = os.path.join(tempfile.gettempdir(), f"rnn-zoo-{uid if uid is not None else 'user'}")
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return base  # the temporary folder itself cannot be written: `_usable` refuses it below
    info = os.lstat(base)
    if uid is None or (info.st_uid == uid and stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o022):
        return base
    return tempfile.mkdtemp(prefix=f"rnn-zoo-{uid}-")

