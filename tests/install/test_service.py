# SPDX-License-Identifier: MIT
"""ctflive-relayd as a system service, without systemd running:

- the unit built from dist/systemd passes `systemd-analyze verify` with no
  warning (its ExecStart pointed at this build's daemon), and its options
  file sets what ExecStart uses;
- started with NOTIFY_SOCKET, the daemon sends READY=1 (with its MAINPID)
  to a unix datagram listener only once its ports accept connections and its
  PID and port files exist, then STOPPING=1 on SIGTERM, and exits 0 having
  removed them; also when it daemonizes;
- -P/--pid-file, --dynamic-port-allocation (RUNDIR/relayd/*.port), -g/--group
  and their errors.
"""
import contextlib
import grp
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build/dev")).resolve()
SOURCE = pathlib.Path(os.environ.get("CTFLIVE_SOURCE_DIR", ".")).resolve()
RELAYD = BUILD / "src" / "relayd" / "ctflive-relayd"
UNIT = BUILD / "dist" / "systemd" / "ctflive-relayd.service"
DEFAULT_FILE = SOURCE / "dist" / "systemd" / "ctflive-relayd.default"
LOCAL_PORTS = ["-C", "tcp://127.0.0.1:0", "-D", "tcp://127.0.0.1:0", "-L", "tcp://127.0.0.1:0"]


def unit_settings(text):
    """{key: [values]} of a unit file."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing (Debian: systemd; scripts/install-deps.sh)"
    text = UNIT.read_text()
    exec_start = unit_settings(text)["ExecStart"][0]
    installed = exec_start.split()[0]
    assert installed.endswith("/ctflive-relayd")
    # The installed path does not exist here: point it at this build.
    unit = tmp_path / "ctflive-relayd.service"
    unit.write_text(text.replace(installed, str(RELAYD)))
    r = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                       text=True, env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # A unit with a typo is caught (so the check above means something).
    bad = tmp_path / "bad" / "ctflive-relayd.service"
    bad.parent.mkdir()
    bad.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt"))
    r = subprocess.run([analyze, "verify", "--man=no", str(bad)], capture_output=True, text=True)
    assert "strikt" in r.stderr, r.stderr


def test_unit_settings():
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"]
    assert s["User"] == ["ctflive"]
    assert s["StateDirectory"] == ["ctflive"]
    assert "--output /var/lib/ctflive" in s["ExecStart"][0]
    assert "$CTFLIVE_RELAYD_OPTS" in s["ExecStart"][0]
    assert s["EnvironmentFile"][0].startswith("-/")
    assert s["EnvironmentFile"][0].endswith("/default/ctflive-relayd")
    for key, want in [("ProtectSystem", "strict"), ("ReadWritePaths", "/var/lib/ctflive"),
                      ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                      ("ProtectHome", "yes")]:
        assert s[key] == [want], key
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    # The options file is shell-like: it sets CTFLIVE_RELAYD_OPTS.
    r = subprocess.run(["sh", "-c", '. "$1" && echo "set:${CTFLIVE_RELAYD_OPTS+yes}"', "sh",
                        str(DEFAULT_FILE)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "set:yes", r.stderr
    sysusers = (SOURCE / "dist" / "systemd" / "ctflive-relayd.sysusers").read_text()
    assert re.search(r"^u ctflive - .* /var/lib/ctflive$", sysusers, re.M)


class Notify:
    """A unix datagram socket standing for systemd's notification socket;
    each message comes with its sender's pid (SO_PASSCRED)."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)

    def recv(self, timeout=10.0):
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        return fields, pid

    def close(self):
        self.sock.close()


def port_file_ports(path):
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def connectable(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 2):
        return True
    return False


def wait_exit(pid, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return proc.returncode
        else:
            try:
                wpid, st = os.waitpid(pid, os.WNOHANG)
                if wpid == pid:
                    return os.waitstatus_to_exitcode(st)
            except ChildProcessError:
                if not os.path.exists(f"/proc/{pid}"):
                    return None
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} did not exit")


@pytest.mark.parametrize("daemonize", [False, True], ids=["foreground", "daemonize"])
def test_notify_ready_then_stopping(tmp_path, daemonize):
    if daemonize:
        # The daemon's exit status is collected here (child subreaper).
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    notify = Notify(tmp_path / "notify")
    out, pid_file, port_file = tmp_path / "out", tmp_path / "relayd.pid", tmp_path / "ports"
    argv = [str(RELAYD), "-o", str(out), *LOCAL_PORTS, "--pid-file", str(pid_file),
            "--port-file", str(port_file)] + (["-d"] if daemonize else [])
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid = None
    try:
        fields, sender = notify.recv()
        # Ready means: ports accept connections, PID and port files written.
        assert fields.get("READY") == "1", fields
        pid = int(pid_file.read_text())
        assert pid_file.read_text() == f"{pid}\n"
        assert sender == pid and fields.get("MAINPID") == str(pid), (fields, sender, pid)
        if daemonize:
            assert proc.wait(10) == 0 and pid != proc.pid
        else:
            assert pid == proc.pid
        ports = port_file_ports(port_file)
        assert sorted(ports) == ["control", "data", "live"]
        for p in ports.values():
            assert connectable(p), p
        os.kill(pid, signal.SIGTERM)
        fields, sender = notify.recv()
        assert fields.get("STOPPING") == "1" and sender == pid, fields
        rc = wait_exit(pid, None if daemonize else proc)
        assert rc in (0, None) if daemonize else rc == 0, rc
        assert not pid_file.exists() and not port_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid and os.path.exists(f"/proc/{pid}") and daemonize:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        notify.close()


def run_relay(tmp_path, args, env=None):
    """Starts the daemon with a port file; returns (proc, ports)."""
    port_file = tmp_path / "ports"
    proc = subprocess.Popen([str(RELAYD), "-o", str(tmp_path / "out"), "--port-file",
                             str(port_file), *args], env=env or dict(os.environ),
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not port_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exit {proc.returncode}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "no port file"
        time.sleep(0.02)
    return proc, port_file_ports(port_file)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, proc.stderr.read()


def test_dynamic_port_allocation(tmp_path):
    """Ports not given, or given without a port number, are picked by the
    system and written, one decimal number and a newline each, to
    $LTTNG_RUNDIR/relayd/{control,data,live}.port; removed at exit."""
    rundir = tmp_path / "run"
    env = dict(os.environ, LTTNG_RUNDIR=str(rundir))
    proc, ports = run_relay(tmp_path, ["--dynamic-port-allocation", "-C", "tcp://127.0.0.1",
                                       "-L", "tcp://127.0.0.1:0"], env)
    try:
        for name in ("control", "data", "live"):
            text = (rundir / "relayd" / f"{name}.port").read_text()
            assert re.fullmatch(r"[1-9][0-9]*\n", text), text
            assert int(text) == ports[name]
            assert connectable(ports[name])
        assert ports["control"] != 5342 and ports["data"] != 5343
        if os.getuid() == 0:  # root: mode 0755, group 'tracing' if it exists, else root
            st = os.stat(rundir / "relayd")
            assert stat.S_IMODE(st.st_mode) == 0o755
            with contextlib.suppress(KeyError):
                assert st.st_gid == grp.getgrnam("tracing").gr_gid
    finally:
        stop(proc)
    assert sorted(os.listdir(rundir / "relayd")) == []


def test_no_port_files_without_dynamic(tmp_path):
    rundir = tmp_path / "run"
    env = dict(os.environ, LTTNG_RUNDIR=str(rundir))
    proc, _ = run_relay(tmp_path, LOCAL_PORTS, env)
    stop(proc)
    assert not rundir.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="the run directory's group is set by root only")
def test_group_of_rundir(tmp_path):
    group = grp.getgrgid(os.getgid() if os.getgid() != 0 else 65534)
    rundir = tmp_path / "run"
    env = dict(os.environ, LTTNG_RUNDIR=str(rundir))
    proc, _ = run_relay(tmp_path, ["--dynamic-port-allocation", "-g", group.gr_name,
                                   *LOCAL_PORTS], env)
    try:
        for d in (rundir, rundir / "relayd"):
            st = os.stat(d)
            assert st.st_gid == group.gr_gid and stat.S_IMODE(st.st_mode) == 0o755, d
    finally:
        stop(proc)


@pytest.mark.parametrize("args,message", [
    (["-g", "no-such-group-ctflive"], "unknown group 'no-such-group-ctflive'"),
    (["-p", "-s"], "exclusive"),
    (["--group-output-by-session", "--group-output-by-host"], "exclusive"),
    (["-P"], "option '-P' requires an argument"),
    (["--pid-file"], "option '--pid-file' requires an argument"),
    (["--dynamic-port-allocation=1"], "takes no argument"),
])
def test_option_errors(tmp_path, args, message):
    r = subprocess.run([str(RELAYD), "-o", str(tmp_path), *LOCAL_PORTS, *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not any(tmp_path.iterdir())


def test_grouping_option_repeated(tmp_path):
    proc, _ = run_relay(tmp_path, ["-s", "--group-output-by-session", *LOCAL_PORTS])
    stop(proc)


def test_pid_file_relative_to_start_dir(tmp_path):
    """A relative --pid-file names a file of the directory it was started in,
    even once daemonized (which changes to /)."""
    sub = tmp_path / "cwd"
    sub.mkdir()
    proc = subprocess.Popen([str(RELAYD), "-o", str(tmp_path / "out"), *LOCAL_PORTS, "-P",
                             "r.pid", "-b"], cwd=sub, stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.wait(10) == 0
    pid_file = sub / "r.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists():
        assert time.monotonic() < deadline, "no PID file"
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    assert pid != proc.pid and os.path.exists(f"/proc/{pid}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_file.exists() or os.path.exists(f"/proc/{pid}/exe"):
        assert time.monotonic() < deadline, "daemon did not stop"
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # when this process is its subreaper
        time.sleep(0.02)
