"""One process per run folder: `<run>/run.lock` names its owner (pid, host, start time, command).

The exclusion itself is an advisory `flock` held on that file for the whole life of the process: the
kernel drops it when the process dies, however it dies (kill -9, out of memory, power loss), so a lock
left behind by a dead process is never mistaken for a live one, and a second process that wants the
folder while the owner lives is refused with the owner's pid, host and start time.

Where `flock` is not available (some network file systems), the file's contents decide: the owner is
alive when its pid still runs on this host with the same process start time (a pid reused after the
owner died, or after a reboot, does not count), and a lock from another host is taken as alive.

`owner_state` answers the same question for readers (is this `running` run still running?) without
taking the lock.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import pathlib
import socket
import sys

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = "run.lock"


class RunLocked(ValueError):
    """Another live process owns the run folder."""


def _read_text(path) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _boot_id() -> str | None:
    text = _read_text("/proc/sys/kernel/random/boot_id")
    return text.strip() if text else None


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (field 22 of /proc/<pid>/stat), or None."""
    text = _read_text(f"/proc/{pid}/stat")
    if not text:
        return None
    try:
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def owner_info() -> dict:
    """What this process writes into the lock file."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "process_start": _process_start(pid),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv else None,
    }


def read_lock(run_dir) -> dict | None:
    """The lock file's owner information, or None when there is no (readable) lock file."""
    text = _read_text(pathlib.Path(run_dir) / LOCK_FILE)
    if not text:
        return None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def owner_state(info: dict | None) -> str:
    """"alive", "dead" or "unknown" (another host) for the owner named in a lock file."""
    if not info:
        return "dead"
    if info.get("host") != socket.gethostname():
        return "unknown"
    boot = _boot_id()
    if info.get("boot_id") and boot and info["boot_id"] != boot:
        return "dead"  # the machine restarted since
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "dead"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # it exists, owned by another user
    start = info.get("process_start")
    if start is not None and _process_start(pid) not in (None, start):
        return "dead"  # the pid was reused by another process
    return "alive"


def describe_owner(info: dict | None) -> str:
    if not info:
        return "another process"
    return f"process {info.get('pid')} on {info.get('host')} (started {info.get('started')})"


def is_locked_by_live_process(run_dir) -> bool:
    """Whether a live process (or one on another host) holds the run folder; never takes the lock."""
    info = read_lock(run_dir)
    if info is None:
        return False
    state = owner_state(info)
    if state == "unknown" and fcntl is not None:
        # Another host: ask the file system (works where flock spans hosts, e.g. NFSv4).
        try:
            fd = os.open(pathlib.Path(run_dir) / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)
    return state != "dead"


class RunLock:
    """Hold `<run_dir>/run.lock` for as long as the process works in the folder.

        lock = RunLock(run_dir).acquire()     # RunLocked if a live process holds it
        ...                                   # lock.previous: the owner a dead process left behind, or None
        lock.release()

    Also a context manager.
    """

    def __init__(self, run_dir):
        self.run_dir = pathlib.Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.previous: dict | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                if not self._lock_fd(fd):
                    raise RunLocked(self._refusal(read_lock(self.run_dir)))
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the owner released (and removed) the file between our open and our lock: retry
        self.previous = read_lock(self.run_dir)
        data = json.dumps(owner_info(), indent=1).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def _lock_fd(self, fd) -> bool:
        """True when this process now holds the lock."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError as e:
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
        # No flock here: the contents decide.
        return owner_state(read_lock(self.run_dir)) == "dead"

    def _refusal(self, info) -> str:
        return (
            f"Run {self.run_dir.name} is in use by {describe_owner(info)}; wait for it to end or stop it "
            f"(a lock left by a dead process is taken over automatically)."
        )

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass  # a read-only folder now, or already gone: the flock still goes with the descriptor
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
