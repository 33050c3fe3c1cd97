# SPDX-License-Identifier: MIT
"""Today's LTTng and babeltrace2 (Debian sid: lttng-tools 2.16, babeltrace2
2.1.2) for the integration tests, from a Debian sid root made with mmdebstrap.

Debian 12 packages LTTng 2.13 and babeltrace2 2.0.4; the tests keep using them
from the host.  Tests of the current peers run them from a sid root instead,
with ``chroot``, talking over 127.0.0.1 to ctflive on the host.

The root
--------
* Made once with ``mmdebstrap --variant=apt`` (the sid ``Release`` file may be
  past its validity date, hence ``Acquire::Check-Valid-Until "false"``) and
  cached in ``$CTFLIVE_SID_ROOT`` (default ``/var/cache/ctflive-tests/sid-root``).
  A file lock serialises test processes that would build it at the same time;
  a root is used only once its ``.ctflive-ready`` file exists.
* ``CTFLIVE_SID_ROOT=skip`` skips the tests that need it.  Without root
  privileges, or without ``mmdebstrap``, they skip too; with both, failing to
  build the root is an error, never a skip.

Mounts
------
Each test process makes itself a private mount namespace (``unshare``) on
first use and mounts, inside the root: ``proc``, ``/sys`` and ``/dev``
(recursive binds), a tmpfs with mode 1777 on ``dev/shm`` (lttng-ust's shared
memory), a tmpfs on ``run``, and the host's ``/tmp`` on ``tmp``, so that a
test workspace has the same path on both sides.  Everything this process
starts inherits the namespace; the mounts vanish with the last process in it,
so nothing is left mounted on the host whatever happens to the test.

Users
-----
The test user of the host (``lttng_harness.test_user()``) is added to the
root with the same uid and gid; commands run as it through
``chroot --userspec``, so the pid a test holds is the program itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

SID_PACKAGES = ["lttng-tools", "liblttng-ust-dev", "babeltrace2", "gcc", "libc6-dev",
                "procps", "passwd"]
DEFAULT_ROOT = "/var/cache/ctflive-tests/sid-root"
READY = ".ctflive-ready"
CLONE_NEWNS = 0x00020000


def root_path() -> Path | None:
    """The configured root, or None when the tests of today's peers are off."""
    v = os.environ.get("CTFLIVE_SID_ROOT", DEFAULT_ROOT)
    if v in ("", "skip", "0", "none"):
        return None
    return Path(v)


_ns_reason: str | None = None


def namespace_reason() -> str | None:
    """Why this process cannot have a private mount namespace (a skip
    reason), or None. In a plain chroot '/' is not a mount point, so its
    propagation cannot be made private and mounts made for the sid root
    would leak to the host: the tests that need them skip there."""
    global _ns_reason
    if _ns_reason is None:
        if shutil.which("unshare") is None:
            _ns_reason = "unshare (util-linux) not installed"
        else:
            r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True,
                               timeout=30)
            _ns_reason = "" if r.returncode == 0 else (
                "no private mount namespace here ('/' is not a mount point, as in a plain "
                f"chroot: {r.stderr.strip()}); run the tests on a machine or container")
    return _ns_reason or None


def unavailable_reason() -> str | None:
    """Why a sid root cannot be had here (a skip reason), or None."""
    root = root_path()
    if root is None:
        return "CTFLIVE_SID_ROOT=skip"
    if os.geteuid() != 0:
        return "a Debian sid root needs root privileges (chroot, mounts)"
    reason = namespace_reason()
    if reason:
        return reason
    if (root / READY).exists():
        return None
    if shutil.which("mmdebstrap") is None:
        return "mmdebstrap not installed (scripts/install-deps.sh installs it)"
    return None


def ready_root(namespace: bool = True) -> tuple[Path | None, str | None]:
    """(root, None) when an already built sid root can run babeltrace2 2.1.2
    for a test (as root; with a private mount namespace when `namespace`),
    else (None, skip reason). Never builds the root."""
    root = root_path()
    if root is None or not (root / READY).exists():
        return None, "no ready Debian sid root with babeltrace2 2.1.2 (tests/integration/sidroot.py)"
    if os.geteuid() != 0:
        return None, "running babeltrace2 2.1.2 in the sid root needs root (chroot)"
    reason = namespace_reason() if namespace else None
    return (None, reason) if reason else (root, None)


def ensure_root(timeout: float = 1200) -> Path:
    """The sid root, built first if needed.  Raises RuntimeError on failure."""
    root = root_path()
    assert root is not None
    if (root / READY).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(str(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / READY).exists():  # another test process built it meanwhile
            return root
        tmp = Path(str(root) + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        argv = ["mmdebstrap", "--variant=apt",
                "--aptopt=Acquire::Check-Valid-Until \"false\"",
                f"--include={','.join(SID_PACKAGES)}", "sid", str(tmp)]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"mmdebstrap failed ({r.returncode}):\n{r.stderr[-4000:]}")
        versions = subprocess.run(
            ["chroot", str(tmp), "dpkg-query", "-W", *SID_PACKAGES[:3]],
            capture_output=True, text=True, timeout=60).stdout
        os.rename(tmp, root)
        (root / READY).write_text(versions)
    return root


def versions(root: Path) -> str:
    """'package<TAB>version' lines of the main packages in the root."""
    return (root / READY).read_text()


_entered: Path | None = None


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {r.stderr.strip()}")


def enter(root: Path) -> None:
    """Private mount namespace for this process, with the root's mounts."""
    global _entered
    if _entered is not None:
        if _entered != root:
            raise RuntimeError(f"already using sid root {_entered}")
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise RuntimeError(f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    _mount("--make-rprivate", "/")
    _mount("-t", "proc", "proc", str(root / "proc"))
    _mount("--rbind", "/sys", str(root / "sys"))
    _mount("--rbind", "/dev", str(root / "dev"))
    _mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(root / "dev/shm"))
    _mount("-t", "tmpfs", "tmpfs", str(root / "run"))
    _mount("--bind", "/tmp", str(root / "tmp"))
    _entered = root


def add_user(root: Path, name: str, uid: int, gid: int) -> None:
    """Makes user `name` (uid, gid) exist in the root, as on the host."""
    passwd = (root / "etc/passwd").read_text()
    if any(line.split(":")[2:4] == [str(uid), str(gid)] for line in passwd.splitlines()
           if line.count(":") >= 3):
        return
    group = (root / "etc/group").read_text()
    if not any(line.split(":")[2:3] == [str(gid)] for line in group.splitlines()):
        subprocess.run(["chroot", str(root), "groupadd", "--system", "-g", str(gid), name],
                       check=True, capture_output=True, timeout=30)
    subprocess.run(["chroot", str(root), "useradd", "--system", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    "-u", str(uid), "-g", str(gid), name],
                   check=True, capture_output=True, timeout=30)


def wrap(root: Path, uid: int, gid: int, argv: Sequence[str],
         env: dict[str, str] | None = None) -> list[str]:
    """Command line running argv inside the root as uid:gid, with exactly env
    (when given) as its environment."""
    out = ["chroot", f"--userspec={uid}:{gid}", "--groups=", str(root)]
    if env is not None:
        out += ["env", "-i", *[f"{k}={v}" for k, v in env.items()]]
    return out + list(argv)


_app_cache: dict[str, Path] = {}


def build_sample_app(root: Path, src: Path, workdir: Path) -> Path:
    """Compiles examples/sample-app inside the root against its lttng-ust
    (2.16) into workdir (which must be under /tmp), once per process."""
    files = sorted(src.glob("*.[ch]"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    cached = _app_cache.get(digest)
    if cached is not None and cached.exists():
        return cached
    out = workdir / f"sample-app-sid-{digest}"
    srcdir = out.with_suffix(".src")
    with contextlib.suppress(FileExistsError):
        srcdir.mkdir(parents=True)
    for f in files:
        shutil.copy2(f, srcdir / f.name)
    cmd = ["chroot", str(root), "gcc", "-O1", "-I", str(srcdir), "-o", str(out),
           *[str(srcdir / f.name) for f in files if f.suffix == ".c"],
           "-llttng-ust", "-ldl", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"building the sample program in the sid root failed:\n{r.stderr}")
    os.chmod(out, 0o755)
    _app_cache[digest] = out
    return out
