# SPDX-License-Identifier: MIT
"""The Debian packages in a fresh Debian 12 root (opt-in, slow: run by
scripts/test-deb.sh, which builds the packages and sets CTFLIVE_DEB_DIR).

In a root made with `mmdebstrap --variant=minbase bookworm` (cached as a
tarball, see scripts/test-deb.sh), `apt install ./*.deb` installs the
packages; the service is then checked as far as it can be without systemd
running as PID 1:

- the system user exists, the unit is enabled and passes
  `systemd-analyze verify` (systemd and man-db installed afterwards, for
  that check only) with no message;
- the installed daemon started as the unit starts it (its ExecStart with the
  variables of its EnvironmentFile and Environment=, as its User=, with
  NOTIFY_SOCKET) reports READY=1 to a listener of this test, as user ctflive;
- the host's LTTng 2.13 streams a live session into it, babeltrace2 reads it
  live, and every event is there; SIGTERM stops it cleanly (STOPPING=1, exit
  0) and the trace is under /var/lib/ctflive.
"""
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

import live_support as ls
import lttng_harness as h

DEB_DIR = os.environ.get("CTFLIVE_DEB_DIR")
ROOT_TAR = os.environ.get("CTFLIVE_FRESH_ROOT_TAR",
                          "/var/cache/ctflive-tests/bookworm-minbase.tar")

pytestmark = pytest.mark.skipif(not DEB_DIR, reason="opt-in: scripts/test-deb.sh")

PACKAGES = ["ctflive-relayd", "ctflive", "libctflive0", "libctflive-dev"]


def sh(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


class Root:
    """An unpacked root with /proc, /sys and /dev mounted while it lives."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.mounts = []

    def mount(self):
        for src, dst, args in (("proc", "proc", ["-t", "proc"]),
                               ("/sys", "sys", ["--rbind"]),
                               ("/dev", "dev", ["--rbind"])):
            target = self.path / dst
            target.mkdir(exist_ok=True)
            sh(["mount", *args, src, str(target)])
            if args == ["--rbind"]:
                sh(["mount", "--make-rslave", str(target)])
            self.mounts.append(target)

    def umount(self):
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(target)], capture_output=True)
        self.mounts = []

    def run(self, cmd, **kw):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
        return sh(["chroot", str(self.path), "sh", "-c", cmd], env=env, **kw)


@pytest.fixture(scope="module")
def root():
    assert pathlib.Path(ROOT_TAR).is_file(), f"no root tarball {ROOT_TAR} (scripts/test-deb.sh)"
    debs = sorted(pathlib.Path(DEB_DIR).glob("*.deb"))
    assert {d.name.split("_")[0] for d in debs} >= set(PACKAGES), debs
    tmp = tempfile.mkdtemp(prefix="ctfl-fresh-", dir="/var/tmp")
    r = Root(tmp)
    try:
        sh(["tar", "-C", tmp, "-xf", ROOT_TAR])
        shutil.copy("/etc/resolv.conf", r.path / "etc" / "resolv.conf")
        (r.path / "tmp" / "debs").mkdir()
        for d in debs:
            shutil.copy(d, r.path / "tmp" / "debs")
        r.mount()
        r.run("apt-get update")
        # The acceptance command, as a user would type it.
        print(r.run("cd /tmp/debs && apt-get install -y ./*.deb")[-2500:])
        yield r
    finally:
        r.umount()
        if not h.keep_tmp():
            shutil.rmtree(tmp, ignore_errors=True)


def test_installed(root):
    status = root.run("dpkg-query -W -f '${Package} ${Status}\\n' " + " ".join(PACKAGES))
    for p in PACKAGES:
        assert f"{p} install ok installed" in status, status
    passwd = root.run("getent passwd ctflive")
    assert re.match(r"ctflive:x:\d+:\d+:[^:]*:/var/lib/ctflive:", passwd), passwd
    assert root.run("stat -c '%U %G %a' /var/lib/ctflive").split() == ["ctflive", "ctflive", "750"]
    # dh_installsystemd enabled the unit.
    link = root.path / "etc/systemd/system/multi-user.target.wants/ctflive-relayd.service"
    assert link.is_symlink(), "unit not enabled"
    assert (root.path / "etc/default/ctflive-relayd").is_file()
    # The library and its headers serve a program (pkg-config, as a user would).
    root.run("ctflive --version && ctflive-relayd --version")


def test_unit_verifies(root):
    root.run("apt-get install -y --no-install-recommends systemd man-db")
    r = subprocess.run(["chroot", str(root.path), "systemd-analyze", "verify",
                        "/lib/systemd/system/ctflive-relayd.service"],
                       capture_output=True, text=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    sec = subprocess.run(["chroot", str(root.path), "systemd-analyze", "security",
                          "--offline=true", "/lib/systemd/system/ctflive-relayd.service"],
                         capture_output=True, text=True)
    print(sec.stdout[-600:])


def unit_command(root, ports):
    """The daemon's argv and environment as the unit starts it, with the
    options file set to listen on `ports` of 127.0.0.1."""
    unit = (root.path / "lib/systemd/system/ctflive-relayd.service").read_text()
    settings = {}
    for line in unit.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    opts = (f"-C tcp://127.0.0.1:{ports[0]} -D tcp://127.0.0.1:{ports[1]} "
            f"-L tcp://127.0.0.1:{ports[2]}")
    default = root.path / "etc/default/ctflive-relayd"
    text = default.read_text()
    assert re.search(r'^CTFLIVE_RELAYD_OPTS=""$', text, re.M), text
    default.write_text(text.replace('CTFLIVE_RELAYD_OPTS=""', f'CTFLIVE_RELAYD_OPTS="{opts}"'))
    env = {}
    envfile = settings["EnvironmentFile"][0].lstrip("-")
    assert envfile == "/etc/default/ctflive-relayd"
    for line in (root.path / envfile.lstrip("/")).read_text().splitlines():
        m = re.match(r'^([A-Z_]+)="(.*)"$', line)
        if m:
            env[m.group(1)] = m.group(2)
    for e in settings.get("Environment", []):
        k, v = e.split("=", 1)
        env[k] = v
    # systemd splits an unbraced $VAR into words.
    argv = []
    for word in shlex.split(settings["ExecStart"][0]):
        if word.startswith("$"):
            argv += env.get(word[1:], "").split()
        else:
            argv.append(word)
    return argv, env, settings


def test_service_ready_and_live_session(root, lttng):
    ports = [h.free_port() for _ in range(3)]
    argv, env, settings = unit_command(root, ports)
    user = settings["User"][0]
    # What systemd would create: RuntimeDirectory= (StateDirectory= exists).
    run_dir = root.path / "run" / settings["RuntimeDirectory"][0]
    run_dir.mkdir(parents=True, exist_ok=True)
    root.run(f"chown {user}:{user} /run/{run_dir.name}")
    notify_path = root.path / "run" / "ctflive-test-notify"
    notify_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(str(notify_path))
    os.chmod(notify_path, 0o777)
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": "/run/ctflive-test-notify", **env}
    log = open(root.path / "tmp" / "relayd.log", "wb")
    uid, gid = (int(x) for x in root.run(f"id -u {user}; id -g {user}").split())
    proc = subprocess.Popen(["chroot", f"--userspec={uid}:{gid}", f"--groups={gid}",
                             str(root.path),
                             "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            cwd="/")

    def recv(timeout=15.0):
        sock.settimeout(timeout)
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = next((struct.unpack("iII", p[:12])[0] for lvl, kind, p in anc
                    if lvl == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), None)
        return dict(x.split("=", 1) for x in data.decode().splitlines() if "=" in x), pid

    try:
        fields, pid = recv()
        assert fields.get("READY") == "1" and pid == proc.pid, (fields, pid, proc.pid)
        status = pathlib.Path(f"/proc/{proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{uid}\s", status, re.M), status
        for p in ports:
            socket.create_connection(("127.0.0.1", p), 2).close()

        relay = h.Relay.__new__(h.Relay)  # the installed daemon, seen as a relay
        relay.ports = h.RelayPorts(*ports)
        ls.setup_session(lttng, relay, "deb")
        bt = ls.BtLive(ls.live_url(relay, "deb")).start()
        try:
            ls.wait_clients(relay, "deb")
            n = 300
            lttng.run_app(n, 1000, "deb")
            time.sleep(0.3)
            ls.end_sessions(lttng, "deb")
            rc, lines, err = bt.finish()
        finally:
            bt.stop()
        assert rc == 0, err
        assert h.tick_indices(lines, "deb") == list(range(n))

        proc.send_signal(signal.SIGTERM)
        fields, pid = recv()
        assert fields.get("STOPPING") == "1", fields
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        sock.close()
        print((root.path / "tmp" / "relayd.log").read_text(errors="replace")[-3000:])
    # The trace is under the state directory, owned by the service's user.
    host = socket.gethostname()
    found = list((root.path / "var/lib/ctflive" / host).glob("deb-*"))
    assert len(found) == 1, found
    assert root.run(f"stat -c %U /var/lib/ctflive/{host}/{found[0].name}").strip() == user
    bt = h.babeltrace(found[0])
    assert bt.rc == 0 and h.tick_indices(bt.lines, "deb") == list(range(300)), bt.err
