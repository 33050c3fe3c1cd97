# SPDX-License-Identifier: MIT
"""Integration harness: real LTTng 2.13 (sessiond, consumerd, lttng-relayd,
babeltrace2) side by side with ctflive-relayd.

How LTTng is run here, and why
------------------------------
* Only one root session daemon can exist per machine (it owns /var/run/lttng),
  so tests never use it.  A per-user session daemon is keyed by LTTNG_HOME
  instead: it keeps its sockets, pid file and consumer daemons under
  ``$LTTNG_HOME/.lttng``.  Every test gets a fresh LTTNG_HOME, so tests can run
  in parallel and never see each other's sessions.
* When the tests run as root, the LTTng side runs as an unprivileged system
  user (``ctflive-test``, created with ``useradd --system`` on first use).
  Running a non-root sessiond as root is not possible (root always means the
  global daemon), and an unprivileged user also limits what a buggy relay can
  damage.  When the tests run as an ordinary user, everything runs as that user.
* The traced program must run as the same user with the same LTTNG_HOME, or
  liblttng-ust registers with another session daemon (or none) and the
  session records nothing.  liblttng-ust's constructor waits (up to
  LTTNG_UST_REGISTER_TIMEOUT, 3 s by default) for the registration, so events
  emitted from main() after ``lttng start`` are recorded.
* ``lttng-sessiond --daemonize`` returns once the daemon is ready; its pid is
  read from ``$LTTNG_HOME/.lttng/lttng-sessiond.pid``.  It forks helpers (a
  "run-as" worker, one lttng-consumerd per buffer ABI, each with its own
  run-as worker).  On SIGTERM the daemon stops them itself; if it has to be
  SIGKILLed they are orphaned, so the harness records the whole process tree
  before stopping it and kills leftovers by pid (never by name).
* Daemonised processes are re-parented to init.  Some containers run an init
  that never reaps, so the harness makes the test process a child subreaper
  (PR_SET_CHILD_SUBREAPER) and reaps the daemons it stopped itself.
* The sessiond and consumerd connect to the relay with no timeout by default:
  a relay that stops answering freezes every ``lttng`` command of that
  daemon.  The harness sets LTTNG_NETWORK_SOCKET_TIMEOUT so such a relay
  makes commands fail instead of hanging the suite.
* The per-user sessiond listens for Java/Python agents on the first free
  127.0.0.1 port in 5345..5354, so at most ten of them can run at once.
* The sessiond connects to the relay at the first command that carries a
  domain (``enable-channel`` / ``enable-event``), not at ``lttng create``;
  trace chunk 0 is created at the first ``lttng start``.
* ``lttng`` stores a "current session" in ``$LTTNG_HOME/.lttngrc``; helpers
  always pass the session name explicitly.
* Relays run as the same unprivileged user (through Popen's ``user=``, so the
  pid we hold is the relay itself; ``runuser`` would stay in between as the
  parent).  Their output directory belongs to that user.
* The test user must be able to reach the sample program; when the build
  directory is not traversable by it, the program is copied into the
  per-test temporary directory.

Environment
-----------
CTFLIVE_BUILD_DIR      build tree (ctflive-sample-app, ctflive-relayd)
CTFLIVE_FIXTURES_DIR   shared read-only fixtures (captures, relay output)
CTFLIVE_KEEP_TMP=1     keep per-test temporary directories (paths are printed)
CTFLIVE_TEST_USER      user to run LTTng as when root (default ctflive-test)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

DEFAULT_TIMEOUT = 60.0
SOCKET_TIMEOUT_MS = 10000
LOCALHOST = "127.0.0.1"


# --------------------------------------------------------------------------
# Paths and environment


def source_dir() -> Path:
    env = os.environ.get("CTFLIVE_SOURCE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    env = os.environ.get("CTFLIVE_BUILD_DIR")
    if env:
        return Path(env)
    return source_dir() / "build"


def fixtures_dir() -> Path | None:
    env = os.environ.get("CTFLIVE_FIXTURES_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    return None


def sample_app_path() -> Path:
    return build_dir() / "examples" / "ctflive-sample-app"


def ctflive_relayd_path() -> Path:
    return build_dir() / "src" / "relayd" / "ctflive-relayd"


def have_ctflive_relayd() -> bool:
    p = ctflive_relayd_path()
    return p.is_file() and os.access(p, os.X_OK)


def keep_tmp() -> bool:
    return os.environ.get("CTFLIVE_KEEP_TMP", "") not in ("", "0")


def missing_tools() -> list[str]:
    need = ["lttng", "lttng-sessiond", "lttng-relayd", "babeltrace2"]
    return [t for t in need if shutil.which(t) is None]


# --------------------------------------------------------------------------
# Processes


def set_child_subreaper() -> None:
    """Adopt orphaned daemons so that we can reap them (see module doc)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of pid, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int, starttime: int | None = None) -> bool:
    st = _proc_stat(pid)
    if st is None:
        return False
    if starttime is not None and st[2] != starttime:
        return False  # pid reused by another process
    if st[0] == "Z":
        _reap(pid)
        return False
    return True


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, starttime) of every descendant of pid."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _proc_stat(int(entry))
        if st:
            children.setdefault(st[1], []).append((int(entry), st[2]))
    out: list[tuple[int, int]] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c[0])
    return out


def _tcp_peers() -> dict[str, str]:
    """socket inode -> "local port -> remote port" of every TCP socket."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9:
                out[f[9]] = (f"{int(f[1].rsplit(':', 1)[1], 16)} -> "
                             f"{int(f[2].rsplit(':', 1)[1], 16)}")
    return out


def blocked_report(pid: int) -> str:
    """Where every thread of pid and of its descendants waits: name, kernel
    wait channel, system call (number and first argument, often a file
    descriptor) and, for the TCP sockets they hold, the ports they join
    (for diagnosing a daemon that does not answer)."""
    peers = _tcp_peers()
    lines = []
    for p in [pid] + [c for c, _ in descendants(pid)]:
        base = Path(f"/proc/{p}")
        try:
            cmd = (base / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        lines.append(f"pid {p}: {cmd.strip()}")
        try:
            tasks = sorted(os.listdir(base / "task"), key=int)
        except OSError:
            tasks = []
        for t in tasks:
            tb = base / "task" / t
            try:
                comm = (tb / "comm").read_text().strip()
                wchan = (tb / "wchan").read_text().strip()
                sysc = (tb / "syscall").read_text().split()
            except OSError:
                continue
            lines.append(f"  tid {t} {comm}: wchan {wchan}, syscall {' '.join(sysc[:2])}")
        try:
            fds = os.listdir(base / "fd")
        except OSError:
            fds = []
        for fd in sorted(fds, key=int):
            try:
                target = os.readlink(base / "fd" / fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                ino = target[8:-1]
                if ino in peers:
                    lines.append(f"  fd {fd}: tcp {peers[ino]}")
    return "\n".join(lines)


# x86-64 system calls that move bytes on a descriptor (read, write, sendto,
# recvfrom, sendmsg, recvmsg, readv, writev).
_IO_SYSCALLS = {0, 1, 44, 45, 46, 47, 19, 20}
_FUTEX_SYSCALL = 202


def consumerd_deadlock(pid: int) -> str | None:
    """When session daemon `pid`'s lttng-consumerd threads all wait, two of
    them at least on futexes, and no thread of the daemons is in a read or
    write on a TCP socket (so no relay is being waited for): a description
    of that state (a lock-up inside the consumer daemon), else None."""
    peers = _tcp_peers()
    futex = 0
    for p in [pid] + [c for c, _ in descendants(pid)]:
        base = Path(f"/proc/{p}")
        try:
            cmd = (base / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            tasks = os.listdir(base / "task")
        except OSError:
            continue
        tcp = set()
        for fd in os.listdir(base / "fd") if (base / "fd").exists() else []:
            try:
                target = os.readlink(base / "fd" / fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in peers:
                tcp.add(int(fd))
        for t in tasks:
            try:
                sysc = (base / "task" / t / "syscall").read_text().split()
            except OSError:
                continue
            if len(sysc) < 2 or not sysc[0].isdigit():
                return None  # running: not locked up
            nr, arg = int(sysc[0]), int(sysc[1], 16)
            if nr in _IO_SYSCALLS and arg in tcp:
                return None  # waiting for a relay
            if nr == _FUTEX_SYSCALL and cmd.endswith("lttng-consumerd"):
                futex += 1
    if futex < 2:
        return None
    return (f"lttng-consumerd locked up: {futex} of its threads wait on futexes, none "
            f"on a relay's socket")


def kill_pid(pid: int, starttime: int | None = None, term_timeout: float = 5.0) -> None:
    """SIGTERM pid, wait up to term_timeout, then SIGKILL.  Never by name."""
    if starttime is None:
        st = _proc_stat(pid)
        if st is None:
            return
        starttime = st[2]
    for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, 5.0)):
        if not pid_alive(pid, starttime):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not pid_alive(pid, starttime):
                return
            time.sleep(0.02)


def stop_popen(proc: subprocess.Popen, term_timeout: float = 5.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(term_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
    return proc.returncode


def wait_for(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The unprivileged user


@dataclass
class User:
    name: str
    uid: int
    gid: int

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def wrap(self, argv: Sequence[str], env: dict[str, str]) -> list[str]:
        """Command line running argv as this user with exactly env added."""
        envargs = [f"{k}={v}" for k, v in env.items()]
        if self.is_self:
            return ["env", *envargs, *argv]
        return ["runuser", "-u", self.name, "--", "env", *envargs, *argv]

    def popen_kwargs(self) -> dict:
        if self.is_self:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def can_access(self, path: Path, mode: str = "-x") -> bool:
        if self.is_self:
            return os.access(path, os.X_OK if mode == "-x" else os.R_OK)
        r = subprocess.run(["runuser", "-u", self.name, "--", "test", mode, str(path)],
                           timeout=10, stdin=subprocess.DEVNULL, capture_output=True)
        return r.returncode == 0

    def chown(self, path: Path) -> None:
        if not self.is_self:
            os.chown(path, self.uid, self.gid)


_user_cache: User | None = None


def test_user() -> User:
    """The user LTTng runs as; created (system user, no home) when root."""
    global _user_cache
    if _user_cache:
        return _user_cache
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        _user_cache = User(pw.pw_name, pw.pw_uid, pw.pw_gid)
        return _user_cache
    name = os.environ.get("CTFLIVE_TEST_USER", "ctflive-test")
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                           timeout=30, capture_output=True, text=True)
        # Two test processes may race to create it: re-read either way.
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError(f"cannot create test user {name}: {r.stderr.strip()}")
    _user_cache = User(pw.pw_name, pw.pw_uid, pw.pw_gid)
    return _user_cache


# --------------------------------------------------------------------------
# Where LTTng and babeltrace2 come from


class Tools:
    """The host's LTTng (Debian 12: 2.13) and babeltrace2 (2.0.4)."""

    name = "host"

    def wrap(self, user: User, argv: Sequence[str], env: dict[str, str]) -> list[str]:
        """Command line running argv as user with exactly env added."""
        return user.wrap(argv, env)

    def popen(self, user: User, argv: Sequence[str]) -> tuple[list[str], dict]:
        """(argv, Popen keyword arguments) running argv as user; the pid of
        the Popen is the program itself."""
        return list(argv), user.popen_kwargs()

    def sample_app(self, ws: "Workspace") -> Path:
        """The sample traced program, reachable by the test user."""
        app = sample_app_path()
        if app.exists() and not ws.user.can_access(app):
            copy = ws.root / "ctflive-sample-app"
            if not copy.exists():
                shutil.copy2(app, copy)
                os.chmod(copy, 0o755)
            return copy
        return app

    def prefix(self) -> list[str]:
        """What runs a command (as root) with these tools, e.g. babeltrace2."""
        return []


class SidTools(Tools):
    """LTTng 2.16 and babeltrace2 2.1.2 from a Debian sid root (sidroot.py)."""

    name = "sid"

    def __init__(self, root: Path):
        import sidroot
        self.sid = sidroot
        self.root = root
        self.app: Path | None = None

    def wrap(self, user: User, argv: Sequence[str], env: dict[str, str]) -> list[str]:
        return self.sid.wrap(self.root, user.uid, user.gid, argv, env)

    def popen(self, user: User, argv: Sequence[str]) -> tuple[list[str], dict]:
        return self.sid.wrap(self.root, user.uid, user.gid, argv), {}

    def sample_app(self, ws: "Workspace") -> Path:
        if self.app is None or not self.app.exists():
            src = source_dir() / "examples" / "sample-app"
            self.app = self.sid.build_sample_app(self.root, src, ws.root)
        return self.app

    def prefix(self) -> list[str]:
        return ["chroot", str(self.root)]


HOST_TOOLS = Tools()


# --------------------------------------------------------------------------
# Ports


def free_port() -> int:
    """A port that was free a moment ago (bind 127.0.0.1:0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on 127.0.0.1 or 0.0.0.0 (from /proc)."""
    ports: set[int] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            addr, state = parts[1], parts[3]
            ip, port = addr.split(":")
            if state == "0A" and ip in ("0100007F", "00000000"):
                ports.add(int(port, 16))
    return ports


# --------------------------------------------------------------------------
# Per-test workspace


class Workspace:
    """A temporary directory tree for one test, world-traversable so that the
    test user reaches what it needs, removed at the end unless CTFLIVE_KEEP_TMP."""

    def __init__(self, user: User, prefix: str = "ctfl-"):
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.root, 0o755)

    def mkdir(self, rel: str, owned: bool = False, mode: int = 0o755) -> Path:
        p = self.root / rel
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)
        if owned:
            self.user.chown(p)
        return p

    def cleanup(self, failed: bool = False) -> None:
        if keep_tmp():
            print(f"[ctflive] kept temporary directory {self.root}")
            return
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------
# Relays


@dataclass
class RelayPorts:
    control: int
    data: int
    live: int


class Relay:
    """Base class: one relay daemon process writing to self.output."""

    kind = "?"

    def __init__(self, ws: Workspace, name: str, tools: Tools = HOST_TOOLS):
        self.ws = ws
        self.user = ws.user
        self.tools = tools
        self.name = name
        self.dir = ws.mkdir(name, owned=True)
        self.output = self.dir / "out"
        self.output.mkdir()
        self.user.chown(self.output)
        self.log_path = self.dir / "relayd.log"
        self.proc: subprocess.Popen | None = None
        self.ports: RelayPorts | None = None
        # Extra environment of the daemon (e.g. LD_PRELOAD of a fault shim).
        self.extra_env: dict[str, str] = {}
        # Run in the child before exec (e.g. resource.setrlimit), or None.
        self.preexec_fn = None

    @property
    def ctrl_url(self) -> str:
        return f"tcp://{LOCALHOST}:{self.ports.control}"

    @property
    def data_url(self) -> str:
        return f"tcp://{LOCALHOST}:{self.ports.data}"

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LTTNG_HOME": str(self.dir),
            "LANG": "C",
            # Output directory names carry the session creation time in the
            # relay's local time zone; UTC keeps them predictable.
            "TZ": "UTC",
            **self.extra_env,
        }
        # ctflive-relayd's bound on held viewer requests, when a test sets it.
        if os.environ.get("CTFLIVE_RELAYD_HOLD_MS"):
            env["CTFLIVE_RELAYD_HOLD_MS"] = os.environ["CTFLIVE_RELAYD_HOLD_MS"]
        argv, kwargs = self.tools.popen(self.user, argv)
        if self.preexec_fn is not None:
            kwargs["preexec_fn"] = self.preexec_fn
        log = open(self.log_path, "ab")
        try:
            return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=self.dir, **kwargs)
        finally:
            log.close()

    killed = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the relay on purpose (the fixture then does not report it)."""
        self.killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        return stop_popen(self.proc)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def session_dir(self, session: str, timeout: float = 10.0) -> Path:
        return find_session_dir(self.output, session, timeout)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} {self.ports}>"


class LttngRelayd(Relay):
    kind = "lttng-relayd"

    def start(self, extra: Sequence[str] = (), attempts: int = 5) -> "LttngRelayd":
        last = ""
        for _ in range(attempts):
            ports = RelayPorts(free_port(), free_port(), free_port())
            if len({ports.control, ports.data, ports.live}) != 3:
                continue
            argv = ["lttng-relayd", "-o", str(self.output),
                    "-C", f"tcp://{LOCALHOST}:{ports.control}",
                    "-D", f"tcp://{LOCALHOST}:{ports.data}",
                    "-L", f"tcp://{LOCALHOST}:{ports.live}", *extra]
            self.proc = self._spawn(argv)
            want = {ports.control, ports.data, ports.live}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if want <= listening_ports():
                    self.ports = ports
                    return self
                time.sleep(0.02)
            # Port collision (another process took one meanwhile) or failure.
            last = self.log()[-2000:]
            self.stop()
        raise RuntimeError(f"lttng-relayd did not start: {last}")


class CtfliveRelayd(Relay):
    kind = "ctflive-relayd"
    daemon_pid: int | None = None

    def alive(self) -> bool:
        if self.daemon_pid is not None:
            return pid_alive(self.daemon_pid)
        return super().alive()

    def stop(self) -> int | None:
        if self.daemon_pid is None:
            return super().stop()
        # The daemon was re-parented to us (child subreaper): its exit status
        # can be collected with waitpid.
        pid, self.daemon_pid = self.daemon_pid, None
        status = None
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    wpid, st = os.waitpid(pid, os.WNOHANG)
                    if wpid == pid:
                        return os.waitstatus_to_exitcode(st)
                except ChildProcessError:
                    if not pid_alive(pid):
                        return status
                time.sleep(0.02)
        return status

    def exe(self) -> Path:
        """ctflive-relayd as the test user can run it: the build tree's, or
        a copy in this relay's directory when the user cannot reach the build
        tree (a checkout under /root)."""
        exe = ctflive_relayd_path()
        if not self.user.can_access(exe):
            copy = self.dir / "ctflive-relayd"
            if not copy.exists():
                shutil.copy2(exe, copy)
                os.chmod(copy, 0o755)
            exe = copy
        return exe

    def start(self, extra: Sequence[str] = (), daemon: bool = False) -> "CtfliveRelayd":
        exe = self.exe()
        port_file = self.dir / "ports"
        # CTFLIVE_RELAYD_ARGS: extra options for debugging (e.g. "-vv").
        extra = [*extra, *shlex.split(os.environ.get("CTFLIVE_RELAYD_ARGS", ""))]
        argv = [str(exe), "-o", str(self.output),
                "-C", f"tcp://{LOCALHOST}:0", "-D", f"tcp://{LOCALHOST}:0",
                "-L", f"tcp://{LOCALHOST}:0", "--port-file", str(port_file), *extra]
        if daemon:
            argv.append("--background")
        self.proc = self._spawn(argv)

        def ready():
            if self.proc.poll() is not None and (not daemon or self.proc.returncode != 0):
                raise RuntimeError(f"ctflive-relayd exited with {self.proc.returncode}: "
                                   f"{self.log()[-2000:]}")
            return port_file.exists()

        try:
            wait_for(ready, 10, what="ctflive-relayd port file")
            self.ports = parse_port_file(port_file.read_text())
            if daemon:
                self.proc.wait(10)
                self.daemon_pid = find_pid_by_arg(str(port_file), exclude=self.proc.pid)
        except Exception:
            self.stop()
            raise
        return self


def find_pid_by_arg(arg: str, exclude: int | None = None) -> int:
    """The pid of the process whose command line contains arg (a unique
    temporary path), for daemons that fork away from the process we started."""
    want = arg.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if want in args:
            return int(entry)
    raise RuntimeError(f"no process with argument {arg}")


F_OFD_GETLK = 36


def unsafe_from(path: Path) -> int | None:
    """Where the region a writer holds write-locked (OFD/POSIX lock) begins,
    or None if no part of the file is locked (ctflive-relayd's lock protocol:
    everything before that offset is published)."""
    import fcntl
    import struct

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        req = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
        rep = fcntl.fcntl(fd, F_OFD_GETLK, req)
        ltype, _whence, start, _len, _pid = struct.unpack("hhqqi4x", rep)
        return None if ltype == fcntl.F_UNLCK else start
    finally:
        os.close(fd)


def parse_port_file(text: str) -> RelayPorts:
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            vals[parts[0]] = int(parts[1])
    missing = {"control", "data", "live"} - vals.keys()
    if missing:
        raise RuntimeError(f"port file lacks {sorted(missing)}: {text!r}")
    return RelayPorts(vals["control"], vals["data"], vals["live"])


RELAY_KINDS = {"lttng-relayd": LttngRelayd, "ctflive-relayd": CtfliveRelayd}


def find_session_dir(output: Path, session: str, timeout: float = 10.0) -> Path:
    """<output>/<host>/<session>[-YYYYmmdd-HHMMSS] (waits for it to appear)."""
    pat = re.compile(re.escape(session) + r"(-\d{8}-\d{6})?")

    def look():
        found = [p for p in output.glob("*/*") if p.is_dir() and pat.fullmatch(p.name)]
        return found if found else None

    found = wait_for(look, timeout, what=f"session directory of {session} in {output}")
    if len(found) != 1:
        raise RuntimeError(f"several directories for session {session}: {found}")
    return found[0]


# --------------------------------------------------------------------------
# The LTTng side: one session daemon per test


class LttngError(RuntimeError):
    pass


class Lttng:
    """A per-user lttng-sessiond with its own LTTNG_HOME, plus CLI helpers."""

    def __init__(self, ws: Workspace, name: str = "h", tools: Tools = HOST_TOOLS):
        self.ws = ws
        self.user = ws.user
        self.tools = tools
        self.home = ws.mkdir(name, owned=True, mode=0o700)
        # Pitfall: the daemons put unix sockets under $LTTNG_HOME/.lttng (the
        # longest is .lttng/ustconsumerd64/command), and a socket path longer
        # than 107 bytes makes the consumerd fail to start ("64-bit UST
        # consumer start failed") only when the first channel is created.
        if len(str(self.home)) + len("/.lttng/ustconsumerd64/command") > 107:
            raise RuntimeError(f"LTTNG_HOME {self.home} too long for unix socket paths")
        self.pid: int | None = None
        self.starttime: int | None = None
        # Options added to every `lttng create` (e.g. --trace-format=ctf-1.8).
        self.create_extra: list[str] = []
        # -vvv --verbose-consumer into log_path (also with CTFLIVE_IT_LTTNG_VERBOSE).
        self.verbose = False
        self.app_path = tools.sample_app(ws)
        self.apps: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LTTNG_HOME": str(self.home),
            "HOME": str(self.home),
            "LANG": "C",
            "TZ": "UTC",
            "LTTNG_NETWORK_SOCKET_TIMEOUT": str(SOCKET_TIMEOUT_MS),
        }

    # daemon lifecycle --------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.ws.root / f"sessiond-{self.home.name}.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid_file(self) -> Path:
        return self.home / ".lttng" / "lttng-sessiond.pid"

    def start(self, timeout: float = 30) -> "Lttng":
        # --background rather than --daemonize: same readiness handshake, but
        # the daemon keeps stdout/stderr, which go to a log file (a pipe would
        # keep subprocess.run waiting for EOF as long as the daemon lives).
        args = ["lttng-sessiond", "--background"]
        if self.verbose or os.environ.get("CTFLIVE_IT_LTTNG_VERBOSE"):
            args += ["-vvv", "--verbose-consumer"]
        argv = self.tools.wrap(self.user, args, self.env())
        with open(self.log_path, "ab") as log:
            r = subprocess.run(argv, timeout=timeout, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise LttngError(f"lttng-sessiond failed ({r.returncode}): {self.log()[-2000:]}")
        text = wait_for(lambda: self.pid_file.exists() and self.pid_file.read_text().strip(),
                        10, what="sessiond pid file")
        self.pid = int(text)
        st = _proc_stat(self.pid)
        self.starttime = st[2] if st else None
        return self

    def stop(self) -> None:
        for app in self.apps:
            stop_popen(app)
        self.apps.clear()
        if self.pid is None:
            return
        tree = descendants(self.pid)
        kill_pid(self.pid, self.starttime, term_timeout=10)
        for pid, start in tree:
            kill_pid(pid, start, term_timeout=2)
        self.pid = None

    # CLI ----------------------------------------------------------------

    def cmd(self, *args: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT
            ) -> subprocess.CompletedProcess:
        argv = self.tools.wrap(self.user, ["lttng", *args], self.env())
        r = subprocess.run(argv, timeout=timeout, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise LttngError(f"lttng {' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout}{r.stderr}")
        return r

    def create_live(self, name: str, relay: Relay, timer_us: int = 100000,
                    url: str | None = None) -> None:
        self.cmd("create", name, "--live", str(timer_us), *self.create_extra,
                 *self._urls(relay, url))

    def create_network(self, name: str, relay: Relay, url: str | None = None) -> None:
        self.cmd("create", name, *self.create_extra, *self._urls(relay, url))

    def create_snapshot(self, name: str, relay: Relay, url: str | None = None) -> None:
        self.cmd("create", name, "--snapshot", *self.create_extra, *self._urls(relay, url))

    @staticmethod
    def _urls(relay: Relay | None, url: str | None) -> list[str]:
        if url is not None:  # e.g. net://127.0.0.1:C:D or a proxy
            return ["--set-url", url]
        return ["--ctrl-url", relay.ctrl_url, "--data-url", relay.data_url]

    def enable_channel(self, session: str, channel: str, buffers: str = "uid",
                       subbuf_size: int | None = None, num_subbuf: int | None = None,
                       tracefile_size: int | None = None,
                       tracefile_count: int | None = None,
                       extra: Sequence[str] = ()) -> None:
        args = ["enable-channel", "-u", "-s", session, f"--buffers-{buffers}"]
        if subbuf_size is not None:
            args += ["--subbuf-size", str(subbuf_size)]
        if num_subbuf is not None:
            args += ["--num-subbuf", str(num_subbuf)]
        if tracefile_size is not None:
            args += ["--tracefile-size", str(tracefile_size)]
        if tracefile_count is not None:
            args += ["--tracefile-count", str(tracefile_count)]
        self.cmd(*args, *extra, channel)

    def enable_event(self, session: str, pattern: str = "ctflive_sample:*",
                     channel: str | None = None) -> None:
        args = ["enable-event", "-u", "-s", session]
        if channel:
            args += ["-c", channel]
        self.cmd(*args, pattern)

    def start_session(self, session: str) -> None:
        self.cmd("start", session)

    def stop_session(self, session: str) -> None:
        self.cmd("stop", session)

    def destroy(self, session: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.cmd("destroy", session, check=check)

    def rotate(self, session: str) -> None:
        self.cmd("rotate", session)

    def clear(self, session: str) -> None:
        self.cmd("clear", session)

    def snapshot_record(self, session: str) -> None:
        self.cmd("snapshot", "record", "-s", session)

    # the traced program ----------------------------------------------

    def app_argv(self, count: int, interval_us: int, name: str | None) -> list[str]:
        argv = [str(self.app_path), "--count", str(count), "--interval-us", str(interval_us)]
        if name:
            argv += ["--name", name]
        return argv

    def spawn_app(self, count: int, interval_us: int = 1000, name: str | None = None
                  ) -> subprocess.Popen:
        """Start the sample program as the test user (returns at once)."""
        argv, kwargs = self.tools.popen(self.user, self.app_argv(count, interval_us, name))
        p = subprocess.Popen(argv, env=self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=self.ws.root, **kwargs)
        self.apps.append(p)
        return p

    def wait_app(self, p: subprocess.Popen, timeout: float = DEFAULT_TIMEOUT) -> str:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_popen(p)
            raise
        if p in self.apps:
            self.apps.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"sample app exited {p.returncode}: {out}")
        return out

    def run_app(self, count: int, interval_us: int = 1000, name: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> str:
        return self.wait_app(self.spawn_app(count, interval_us, name), timeout)


# --------------------------------------------------------------------------
# Reading traces


@dataclass
class Bt2Result:
    rc: int
    lines: list[str]
    err: str


def babeltrace(path: Path | str, timeout: float = DEFAULT_TIMEOUT,
               extra: Sequence[str] = (), tools: Tools = HOST_TOOLS) -> Bt2Result:
    env = dict(os.environ, TZ="UTC", LANG="C")
    r = subprocess.run([*tools.prefix(), "babeltrace2", *extra, str(path)], env=env,
                       timeout=timeout,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return Bt2Result(r.returncode, r.stdout.splitlines(), r.stderr)


_TS_RE = re.compile(r"^\[[0-9:.]+\] \((?:\+[0-9.?]+)\) ")
_HOST_RE = re.compile(r"^(\S+) ")
_CTX_RE = re.compile(r"\b(vpid|vtid|pid|tid|procname|cpu_id) = [^,}]+")


def normalise(line: str, drop_host: bool = False, drop_context: Iterable[str] = ()) -> str:
    """A babeltrace2 text line without its timestamp and delta prefix
    (and optionally without the hostname and some context fields)."""
    line = _TS_RE.sub("", line)
    if drop_host:
        line = _HOST_RE.sub("", line, count=1)
    drop = set(drop_context)
    if drop:
        line = _CTX_RE.sub(lambda m: f"{m.group(1)} = *" if m.group(1) in drop
                           else m.group(0), line)
    return line


def normalise_all(lines: Iterable[str], **kw) -> list[str]:
    return [normalise(line, **kw) for line in lines]


_TIE_TS_RE = re.compile(r"^(\[[^]]*\]|timestamp = [^,]*,)")
_TIE_DELTA_RE = re.compile(r"\(\+[0-9.?]+\) |delta = [^,]*, ")


def ties_unordered(lines: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Text lines grouped by timestamp, each group sorted and without the
    deltas: the same for two outputs that differ only in the order of
    equal-time events (of different traces)."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        m = _TIE_TS_RE.match(line)
        ts = m.group(1) if m else line
        if not groups or groups[-1][0] != ts:
            groups.append((ts, []))
        groups[-1][1].append(_TIE_DELTA_RE.sub("", line, count=1))
    return [(ts, sorted(g)) for ts, g in groups]


_INDEX_RE = re.compile(r"ctflive_sample:tick: .*\{ name = \"([^\"]*)\", index = (\d+),")


def tick_indices(lines: Iterable[str], name: str | None = None) -> list[int]:
    """The index of every ctflive_sample:tick line (optionally of one --name)."""
    out = []
    for line in lines:
        m = _INDEX_RE.search(line)
        if m and (name is None or m.group(1) == name):
            out.append(int(m.group(2)))
    return out


# --------------------------------------------------------------------------
# Known failures of the peers
#
# A few races live inside the peers the tests run against, not in ctflive;
# each is recognised by exactly what the peer prints, or how it dies. A
# scenario that ends in one of them runs once more (once_more_on_peer_failure);
# any other failure fails at once, and the second run's result is final.

# babeltrace2 2.0.4's lttng-live source reads the "new streams" flag of a
# GET_NEXT_INDEX reply only when the reply is OK: with per-PID streams that
# come and go it then converts a clock value that overflows (seen against
# lttng-relayd 2.13 itself). Its messages for that failure (its ctf plugin's,
# its library's), either one:
BT204_CLOCK_OVERFLOW = ("Cannot convert clock cycles to nanoseconds from origin",
                        "value overflows the signed 64-bit integer range")


def bt204_clock_overflow(rc: int, err: str) -> str | None:
    """What babeltrace2 2.0.4 died of when it is its per-PID clock
    conversion race (BT204_CLOCK_OVERFLOW), else None."""
    if rc != 0 and any(m in err for m in BT204_CLOCK_OVERFLOW):
        return f"babeltrace2 2.0.4 failed its per-PID clock conversion ({err[-500:]!r})"
    return None


def bt212_sigsegv(rc: int, err: str) -> str | None:
    """babeltrace2 2.1.2's lttng-live source now and then dies of SIGSEGV
    with per-PID sessions (seen against lttng-relayd 2.16 too)."""
    if rc == -signal.SIGSEGV:
        return f"babeltrace2 2.1.2 died of SIGSEGV (stderr: {err[-500:]!r})"
    return None


def once_more_on_peer_failure(scenario, peer_failure):
    """Runs scenario(0); when peer_failure(result) names a known failure of a
    peer (a string, else None), prints it and returns scenario(1)'s result
    whatever it is; else returns the first result. `scenario` takes the
    attempt number (0, 1), e.g. to name its sessions apart."""
    result = scenario(0)
    why = peer_failure(result)
    if why is None:
        return result
    print(f"{why}: the scenario runs once more")
    return scenario(1)


# --------------------------------------------------------------------------
# Comparing relay output


_DT_RES = [
    (re.compile(r"\d{8}T\d{6}[+-]\d{4}"), "<ts>"),
    (re.compile(r"\d{8}-\d{6}"), "<dt>"),
]


def normalise_relpath(rel: str, renames: dict[str, str] | None = None) -> str:
    for pat, rep in _DT_RES:
        rel = pat.sub(rep, rel)
    for a, b in (renames or {}).items():
        rel = rel.replace(a, b)
    return rel


def is_private(rel: str) -> bool:
    """Names starting with "." are a relay's own, not part of the trace
    layout (ctflive-relayd's session marker, temporary names)."""
    return any(part.startswith(".") for part in Path(rel).parts)


def tree_files(root: Path, private: bool = False) -> dict[str, Path]:
    """Relative path -> path for every regular file under root (without
    relay-private names unless private=True)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            rel = str(p.relative_to(root))
            if private or not is_private(rel):
                out[rel] = p
    return out


CTFLIVE_MARKER = ".ctflive-session"


def check_ctflive_markers(session_dirs: Iterable[Path], timeout: float = 5.0) -> list[str]:
    """ctflive-relayd's on-disk contract for finished sessions: a session
    marker saying "complete" at the root of each session directory, and no
    other relay-private file left behind."""
    problems = []
    for d in session_dirs:
        marker = d / CTFLIVE_MARKER

        def complete():
            try:
                return marker.read_text().strip() == "complete"
            except OSError:
                return False

        try:
            wait_for(complete, timeout, what=f"{marker} to say complete")
        except TimeoutError:
            state = marker.read_text().strip() if marker.exists() else "missing"
            problems.append(f"{d.name}: session marker {state!r}, want 'complete'")
        extra = [r for r in tree_files(d, private=True)
                 if is_private(r) and r != CTFLIVE_MARKER]
        extra += [str(p.relative_to(d)) for p in d.rglob(".*") if p.is_dir()]
        if extra:
            problems.append(f"{d.name}: relay-private files left behind: {sorted(extra)}")
    return problems


def layout(root: Path, renames: dict[str, str] | None = None) -> list[str]:
    # Names starting with "." are a relay's own (ctflive-relayd's session
    # marker, see doc/file-formats.md), not part of the trace layout.
    return sorted(normalise_relpath(r, renames) for r in tree_files(root)
                  if not any(part.startswith(".") for part in Path(r).parts))


INDEX_MAGIC = 0xC1F1DCC1


@dataclass
class IndexFile:
    magic: int
    major: int
    minor: int
    entry_len: int
    entries: list[tuple[int, ...]] = field(default_factory=list)
    trailing: int = 0


def read_index(path: Path) -> IndexFile:
    import struct

    data = path.read_bytes()
    if len(data) < 16:
        raise ValueError(f"{path}: index shorter than its header ({len(data)} bytes)")
    magic, major, minor, elen = struct.unpack(">IIII", data[:16])
    idx = IndexFile(magic, major, minor, elen)
    nfields = elen // 8 if elen in (56, 72) else 0
    pos = 16
    while nfields and pos + elen <= len(data):
        idx.entries.append(struct.unpack(f">{nfields}Q", data[pos:pos + nfields * 8]))
        pos += elen
    idx.trailing = len(data) - pos
    return idx


def check_index_consistent(idx_path: Path, data_path: Path) -> list[str]:
    """Problems found between an index file and its tracefile."""
    problems = []
    idx = read_index(idx_path)
    size = data_path.stat().st_size
    if idx.magic != INDEX_MAGIC:
        problems.append(f"{idx_path.name}: bad magic {idx.magic:#x}")
    if idx.trailing:
        problems.append(f"{idx_path.name}: {idx.trailing} trailing bytes")
    expect_off = 0
    for e in idx.entries:
        off, psize = e[0], e[1]
        if off != expect_off:
            problems.append(f"{idx_path.name}: entry offset {off} != expected {expect_off}")
        if psize % 8 or off + psize // 8 > size:
            problems.append(f"{idx_path.name}: packet at {off} size {psize} bits beyond "
                            f"file size {size}")
        expect_off = off + psize // 8
    if expect_off != size:
        problems.append(f"{data_path.name}: size {size} != end of last indexed packet "
                        f"{expect_off}")
    return problems


# --------------------------------------------------------------------------
# One tracing scenario recorded by two relays at once


class SessionPair:
    """The same tracing session configuration created twice on one session
    daemon, once per relay: "ref" (lttng-relayd) and "cand" (the relay under
    test).  One run of the traced program is then recorded by both, so their
    outputs must agree except for timestamps (each session reads the clock
    for its own copy of an event) and packet boundaries (live timers tick
    independently)."""

    def __init__(self, lttng: Lttng, ref: Relay, cand: Relay, prefix: str = "s",
                 urls: dict[str, str] | None = None):
        self.lttng = lttng
        self.relays = {f"{prefix}ref": ref, f"{prefix}cand": cand}
        self.urls = urls or {}

    @property
    def names(self) -> list[str]:
        return list(self.relays)

    def each(self, fn, *args, **kw) -> None:
        for name in self.relays:
            fn(name, *args, **kw)

    def create(self, mode: str = "live", timer_us: int = 100000) -> None:
        for name, relay in self.relays.items():
            url = self.urls.get(name)
            if mode == "live":
                self.lttng.create_live(name, relay, timer_us, url=url)
            elif mode == "network":
                self.lttng.create_network(name, relay, url=url)
            elif mode == "snapshot":
                self.lttng.create_snapshot(name, relay, url=url)
            else:
                raise ValueError(mode)

    def setup(self, mode: str = "live", timer_us: int = 100000, channel: str = "ch",
              pattern: str = "ctflive_sample:*", start: bool = True, **chan) -> None:
        self.create(mode, timer_us)
        for name in self.relays:
            self.lttng.enable_channel(name, channel, **chan)
            self.lttng.enable_event(name, pattern, channel=channel)
        if start:
            self.each(self.lttng.start_session)

    def finish(self) -> None:
        for name in self.relays:
            self.lttng.stop_session(name)
        for name in self.relays:
            self.lttng.destroy(name)

    @property
    def cand_kind(self) -> str:
        return next(r.kind for n, r in self.relays.items() if n.endswith("cand"))

    def compare(self, **kw) -> list[str]:
        kw.setdefault("tools", self.lttng.tools)
        return compare_trace_dirs(self.session_dir("ref"), self.session_dir("cand"),
                                  cand_kind=self.cand_kind, **kw)

    def session_dir(self, which: str) -> Path:
        name = next(n for n in self.relays if n.endswith(which))
        return self.relays[name].session_dir(name)


def compare_trace_dirs(ref: Path, cand: Path, ordered: bool = True,
                       bt2_path: str = "", check_indexes: bool = True,
                       cand_kind: str = "", tools: Tools = HOST_TOOLS) -> list[str]:
    """Differences between two relay outputs of the same session: file names,
    babeltrace2 text (timestamps aside; read with the babeltrace2 of `tools`),
    index headers, index/data agreement; with cand_kind "ctflive-relayd", also
    its session marker contract."""
    problems = []
    lref, lcand = layout(ref), layout(cand)
    if lref != lcand:
        only_ref = sorted(set(lref) - set(lcand))
        only_cand = sorted(set(lcand) - set(lref))
        problems.append(f"layout differs: only in lttng-relayd output {only_ref}, "
                        f"only in candidate output {only_cand}")
    bref = babeltrace(ref / bt2_path if bt2_path else ref, tools=tools)
    bcand = babeltrace(cand / bt2_path if bt2_path else cand, tools=tools)
    if bref.rc != 0:
        problems.append(f"babeltrace2 failed on lttng-relayd output ({bref.rc}): {bref.err}")
    if bcand.rc != 0:
        problems.append(f"babeltrace2 failed on candidate output ({bcand.rc}): {bcand.err}")
    # cpu_id aside too: the program may migrate between the two sessions'
    # copies of one event.
    nref = normalise_all(bref.lines, drop_context=("cpu_id",))
    ncand = normalise_all(bcand.lines, drop_context=("cpu_id",))
    for label, b in (("lttng-relayd", bref), ("candidate", bcand)):
        # ("discarded N packets" is expected where a clear deleted a chunk.)
        if re.search(r"discarded \d+ events", b.err):
            problems.append(f"the tracer discarded events in the {label} session (machine "
                            f"overloaded? buffers too small?): {b.err.strip()[:300]}")
    if not ordered:
        nref, ncand = sorted(nref), sorted(ncand)
    if nref != ncand:
        import difflib

        diff = list(difflib.unified_diff(nref, ncand, "lttng-relayd", "candidate",
                                         lineterm="", n=1))
        problems.append(f"babeltrace2 output differs ({len(nref)} vs {len(ncand)} lines):\n"
                        + "\n".join(diff[:40]))
    if cand_kind == "ctflive-relayd":
        problems += check_ctflive_markers([cand])
    if check_indexes:
        fref, fcand = tree_files(ref), tree_files(cand)
        for rel, p in fcand.items():
            if not rel.endswith(".idx") or "/index/" not in f"/{rel}":
                continue
            ic = read_index(p)
            if rel in fref:
                ir = read_index(fref[rel])
                if (ir.magic, ir.major, ir.minor, ir.entry_len) != \
                        (ic.magic, ic.major, ic.minor, ic.entry_len):
                    problems.append(f"{rel}: index header {ic.magic:#x} {ic.major}.{ic.minor} "
                                    f"len {ic.entry_len}, lttng-relayd wrote {ir.magic:#x} "
                                    f"{ir.major}.{ir.minor} len {ir.entry_len}")
            data = p.parent.parent / p.name[:-4]
            if data.exists():
                problems += [f"candidate {rel}: {x}" for x in check_index_consistent(p, data)]
    return problems


def published_index_problems(session_dir: Path) -> list[str]:
    """While a session is being written: every whole index entry must
    describe a packet whose bytes are already in its tracefile (an entry is
    written only after its packet).  The index is read before the tracefile
    size is taken, so a relay that orders its writes correctly never shows a
    problem here."""
    import struct

    problems = []
    for idx_path in sorted(session_dir.rglob("index/*.idx")):
        if is_private(str(idx_path.relative_to(session_dir))):
            continue
        try:
            data = idx_path.read_bytes()
            size = (idx_path.parent.parent / idx_path.name[:-4]).stat().st_size
        except FileNotFoundError:
            continue  # not created yet, or a ring slot being replaced
        if len(data) < 16:
            continue
        elen = struct.unpack(">I", data[12:16])[0]
        if elen not in (56, 72):
            problems.append(f"{idx_path.name}: entry size {elen}")
            continue
        for pos in range(16, len(data) - elen + 1, elen):
            off, psize = struct.unpack(">QQ", data[pos:pos + 16])
            if off == 2**64 - 1:
                continue  # lost packet marker
            if off + psize // 8 > size:
                problems.append(f"{idx_path.name}: entry at {pos} publishes packet "
                                f"[{off}, {off + psize // 8}) but the tracefile has {size} bytes")
    return problems


_TICK_RE = re.compile(
    r"ctflive_sample:tick: .*\{ name = \"(?P<name>[^\"]*)\", index = (?P<i>\d+), "
    r"neg = (?P<neg>-?\d+), hex = (?P<hex>0x[0-9A-F]+), ratio = (?P<ratio>[-0-9.e+]+), "
    r"phase = \( \"(?P<label>[A-Z]+)\" : container = (?P<phase>\d+) \), "
    r"bytes = \[ (?P<bytes>(?:\[\d+\] = \d+(?:, )?)*) \], _seq_length = (?P<seqlen>\d+), "
    r"seq = \[ (?P<seq>(?:\[\d+\] = -?\d+(?:, )?)*) ?\] \}")


def tick_payload_problems(lines: Iterable[str]) -> list[str]:
    """Check every ctflive_sample:tick payload against what the sample
    program computes from the index (see examples/sample-app)."""
    problems = []
    for line in lines:
        if "ctflive_sample:tick:" not in line:
            continue
        m = _TICK_RE.search(line)
        if not m:
            problems.append(f"unparsable tick: {line[:200]}")
            continue
        i = int(m["i"])
        phase = i % 2 if i % 10 < 2 else 2 + i % 8
        want_bytes = ", ".join(f"[{k}] = {(i + k) & 0xff}" for k in range(4))
        n = i % 5
        want_seq = ", ".join(f"[{k}] = {(i % 100000) * 10 + k}" for k in range(n))
        ok = (int(m["neg"]) == -(i % 1000)
              and int(m["hex"], 16) == (i * 2654435761) & 0xFFFFFFFF
              and float(m["ratio"]) == i / 4.0
              and int(m["phase"]) == phase
              and m["label"] == ("EVEN" if phase == 0 else "ODD" if phase == 1 else "HIGH")
              and m["bytes"].strip() == want_bytes
              and int(m["seqlen"]) == n
              and m["seq"].strip() == want_seq)
        if not ok:
            problems.append(f"tick {i}: payload differs from the program's: {line[:300]}")
    return problems


def published_lock_problems(session_dir: Path) -> list[str]:
    """ctflive-relayd's lock protocol while a session runs: every index entry
    before the index file's safe point describes a packet before the
    tracefile's safe point (safe points are read index first, so a relay that
    publishes in the documented order never shows a problem)."""
    import struct

    problems = []
    for idx_path in sorted(session_dir.rglob("index/*.idx")):
        if is_private(str(idx_path.relative_to(session_dir))):
            continue
        data_path = idx_path.parent.parent / idx_path.name[:-4]
        try:
            start = unsafe_from(idx_path)
            data = idx_path.read_bytes()
            isafe = len(data) if start is None else min(start, len(data))
            dstart = unsafe_from(data_path)
            dsafe = data_path.stat().st_size if dstart is None else dstart
        except FileNotFoundError:
            continue
        if isafe < 16:
            continue
        elen = struct.unpack(">I", data[12:16])[0]
        if elen not in (56, 72):
            continue
        for pos in range(16, isafe - elen + 1, elen):
            off, psize = struct.unpack(">QQ", data[pos:pos + 16])
            if off != 2**64 - 1 and off + psize // 8 > dsafe:
                problems.append(f"{idx_path.name}: published entry at {pos} describes "
                                f"[{off}, {off + psize // 8}) beyond the tracefile's safe "
                                f"point {dsafe}")
    return problems
