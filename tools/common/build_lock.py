"""The build lock of the project's Python tools: builds and test runs take /tmp/ttt-build.lock
(flock) when that file exists, so that they queue behind each other on a small machine, unless a
parent process already holds it (a `flock /tmp/ttt-build.lock ctest ...` running the tool as a
test: taking it again would wait for ourselves forever).

    sys.path.insert(0, "<repo>/tools/common")
    from build_lock import BuildLock
    with BuildLock():
        subprocess.run(["cmake", "--build", ...])

Used by tools/mutate/mutate.py and tools/select_proof/select_proof.py. Standard library only.
"""

import fcntl
import os

BUILD_LOCK = "/tmp/ttt-build.lock"


def ancestors(pid=None):
    """This process and its ancestors' pids."""
    pids = []
    pid = os.getpid() if pid is None else pid
    while pid > 0 and pid not in pids:
        pids.append(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                stat = f.read()
            pid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def lock_holders(locks_text, inode):
    """Pids holding a FLOCK lock on `inode` in /proc/locks text."""
    holders = set()
    for line in locks_text.splitlines():
        fields = line.split()
        if "FLOCK" not in fields or "->" in fields:
            continue  # "->" marks a waiter, not a holder.
        try:
            at = fields.index("FLOCK")
            pid, device_inode = int(fields[at + 3]), fields[at + 4]
        except (ValueError, IndexError):
            continue
        if device_inode.rsplit(":", 1)[-1] == str(inode):
            holders.add(pid)
    return holders


class BuildLock:
    """flock of BUILD_LOCK around one build or test run, when the file exists and no ancestor
    holds it already (taking it again would wait for ourselves forever)."""

    def __init__(self, path=BUILD_LOCK, enabled=True):
        self.path, self.enabled, self.fd = path, enabled, None

    def __enter__(self):
        if not self.enabled or not os.path.exists(self.path):
            return self
        try:
            with open("/proc/locks", encoding="utf-8") as f:
                holders = lock_holders(f.read(), os.stat(self.path).st_ino)
        except OSError:
            holders = set()
        if holders & set(ancestors()):
            return self
        self.fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False
