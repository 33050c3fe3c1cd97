# SPDX-License-Identifier: MIT
"""Differential test of `ctflive view` on the CTF 2 traces against their
babeltrace2 2.1.2 oracle outputs (`fixtures/ctf2-traces/<set>/<name>.expect.*`,
made with `TZ=UTC babeltrace2 <dir>` from the directory above `fixtures/`).

Every trace must match its oracle: byte-identical stdout, the same exit
status, the same `WARNING: Tracer discarded ...` lines. The traces that do
not yet (KNOWN_UNSUPPORTED, with the reason) must still fail with a clear
`error:` naming what is not supported and never crash, so the list can only
shrink: a listed trace that starts matching makes the test fail too.
"""
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build"))
FIXTURES = pathlib.Path(os.environ.get("CTFLIVE_FIXTURES_DIR", "../shared/fixtures")).resolve()
CTFLIVE = BUILD / "src" / "cli" / "ctflive"
ROOT = FIXTURES.parent  # babeltrace2 was run from here
CTF2 = FIXTURES / "ctf2-traces"

# trace -> text the error message must contain
KNOWN_UNSUPPORTED = {
}


def _traces():
    if not CTF2.is_dir():
        return []
    return sorted(f"{s.name}/{p.name}" for s in CTF2.iterdir() if s.is_dir()
                  for p in s.iterdir() if p.is_dir())


TRACES = _traces()


def _run(trace, *opts):
    env = dict(os.environ, TZ="UTC")
    env.pop("BABELTRACE_TERM_COLOR", None)
    rel = os.path.relpath(CTF2 / trace, ROOT)
    return subprocess.run([str(CTFLIVE), "view", *opts, rel], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def _expect(trace):
    base = str(CTF2 / trace)
    txt = pathlib.Path(base + ".expect.txt").read_bytes()
    err = pathlib.Path(base + ".expect.err").read_text(errors="replace")
    rc = int(pathlib.Path(base + ".expect.rc").read_text().strip())
    return txt, err, rc


def _discard_lines(text):
    prefix = str(ROOT) + "/"
    return [l.replace(prefix, "") for l in text.splitlines()
            if l.startswith("WARNING: Tracer")]


@pytest.fixture(scope="module", autouse=True)
def _need_binary():
    if not CTFLIVE.exists():
        pytest.skip(f"{CTFLIVE} not built")
    if not CTF2.is_dir():
        pytest.skip(f"CTF 2 fixtures not found at {CTF2}")


def test_corpus_present():
    assert len(TRACES) == 31
    for t in KNOWN_UNSUPPORTED:
        assert t in TRACES, f"{t} listed but not in the corpus"


@pytest.mark.parametrize("trace", [t for t in TRACES if t not in KNOWN_UNSUPPORTED])
def test_matches_babeltrace2(trace):
    txt, err, rc = _expect(trace)
    p = _run(trace)
    ours = p.stderr.decode(errors="replace")
    assert p.returncode == rc, ours
    if p.stdout != txt:
        got = p.stdout.decode(errors="replace").splitlines()
        exp = txt.decode(errors="replace").splitlines()
        for i, (a, b) in enumerate(zip(got, exp)):
            assert a == b, f"first difference at line {i + 1}"
        assert len(got) == len(exp), "different number of lines"
    assert _discard_lines(ours) == _discard_lines(err)
    if rc != 0:
        assert "error:" in ours and len(ours.strip().splitlines()) <= 5


def test_known_unsupported_still_fail_clearly():
    for trace, why in sorted(KNOWN_UNSUPPORTED.items()):
        txt, _, rc = _expect(trace)
        p = _run(trace)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 1, f"{trace}: exit status {p.returncode}: {err}"
        assert "error:" in err and why in err, f"{trace}: {err}"
        assert not (p.stdout == txt and p.returncode == rc), f"{trace} matches: unlist it"


@pytest.mark.parametrize("trace", [t for t in TRACES if t not in KNOWN_UNSUPPORTED])
def test_json_lines_valid(trace):
    import json
    _, _, rc = _expect(trace)
    p = _run(trace, "--json")
    assert p.returncode == rc
    for line in p.stdout.decode().splitlines():
        json.loads(line)


def _sid_babeltrace2():
    """argv prefix running babeltrace2 2.1.2 of the Debian sid root of the
    integration tests (tests/integration/sidroot.py) on fixtures, or None."""
    import shutil
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration"))
    try:
        import sidroot
    finally:
        sys.path.pop(0)
    root = sidroot.root_path()
    if (root is None or os.geteuid() != 0 or not (root / sidroot.READY).exists()
            or not shutil.which("unshare") or sidroot.namespace_reason()):
        return None
    return root


OPTS = [["-f", "all"], ["--clock-seconds"], ["--no-delta", "-n", "all"], ["-n", "none"],
        ["--clock-cycles"], ["-f", "all", "-n", "all"], ["--clock-date"]]


@pytest.mark.parametrize("opts", OPTS, ids=lambda o: " ".join(o))
def test_options_vs_babeltrace212(opts):
    """The same options given to babeltrace2 2.1.2 (sid root, when present) and to
    ctflive, on every CTF 2 trace that matches its oracle."""
    import shlex
    root = _sid_babeltrace2()
    if root is None:
        pytest.skip("no ready Debian sid root with babeltrace2 2.1.2 (or not root)")
    traces = [t for t in TRACES if t not in KNOWN_UNSUPPORTED]
    inner = " && ".join(
        f"echo '#{t}'; babeltrace2 {' '.join(map(shlex.quote, opts))} {shlex.quote(t)}"
        f" 2>/dev/null; echo \"#rc $?\"" for t in traces)
    script = (f"mkdir -p {root}/tmp/ctf2fx && mount --bind {shlex.quote(str(CTF2))} "
              f"{root}/tmp/ctf2fx && TZ=UTC chroot {root} sh -c "
              f"{shlex.quote('cd /tmp/ctf2fx && ' + inner)}")
    bt = subprocess.run(["unshare", "-m", "sh", "-c", script], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=600)
    assert bt.returncode == 0, bt.stderr.decode(errors="replace")
    ours = b""
    for t in traces:
        env = dict(os.environ, TZ="UTC")
        env.pop("BABELTRACE_TERM_COLOR", None)
        p = subprocess.run([str(CTFLIVE.resolve()), "view", *opts, t], cwd=CTF2, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
        ours += f"#{t}\n".encode() + p.stdout + f"#rc {p.returncode}\n".encode()
    assert ours == bt.stdout
