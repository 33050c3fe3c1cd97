# SPDX-License-Identifier: MIT
"""`cmake --install` of this build into a staging prefix, used as a program
that links libctflive would use it.

The staged tree holds the programs, libctflive.so with its SONAME links,
libctflive.a, the public headers and ctflive.pc. tests/install/count-events.c
is compiled with `pkg-config --cflags --libs ctflive` (the staging prefix
given with --define-variable=prefix), as C17 and as C++17 (the compilers of
this build: gcc/g++ or clang/clang++, with its sanitizers), and against the
static archive; each counts the events of fixture traces through
<ctflive/iter.h>, and the count must equal the lines of the installed
`ctflive view DIR`. The installed library exports only ctflive_* symbols.
"""
import os
import pathlib
import shlex
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build/dev")).resolve()
SOURCE = pathlib.Path(os.environ.get("CTFLIVE_SOURCE_DIR", ".")).resolve()
FIXTURES = pathlib.Path(os.environ.get("CTFLIVE_FIXTURES_DIR", "../shared/fixtures")).resolve()
CMAKE = os.environ.get("CTFLIVE_CMAKE", "cmake")
CC = os.environ.get("CTFLIVE_TEST_CC", "gcc")
CXX = os.environ.get("CTFLIVE_TEST_CXX", "g++")
EXTRA = shlex.split(os.environ.get("CTFLIVE_TEST_CFLAGS", ""))
PROGRAM = SOURCE / "tests" / "install" / "count-events.c"
TRACES = ["multi-domains", "session-rotation", "lttng-tracefile-rotation", "wk-heartbeat-u"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("stage")
    run([CMAKE, "--install", str(BUILD), "--prefix", str(prefix)])
    pcs = list(prefix.glob("**/pkgconfig/ctflive.pc"))
    assert len(pcs) == 1, pcs
    libdir = pcs[0].parent.parent
    return prefix, libdir


def pkg_config(stage, *args):
    prefix, libdir = stage
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    out = run(["pkg-config", f"--define-variable=prefix={prefix}", *args, "ctflive"], env=env)
    return shlex.split(out)


def test_layout(stage):
    prefix, libdir = stage
    for prog in ("ctflive", "ctflive-relayd"):
        assert os.access(prefix / "bin" / prog, os.X_OK), prog
    real = libdir / "libctflive.so.0.1.0"
    assert real.is_file() and not real.is_symlink()
    assert os.readlink(libdir / "libctflive.so.0") == "libctflive.so.0.1.0"
    assert os.readlink(libdir / "libctflive.so") == "libctflive.so.0"
    assert (libdir / "libctflive.a").is_file()
    src = sorted(p.name for p in (SOURCE / "include" / "ctflive").glob("*.h"))
    dst = sorted(p.name for p in (prefix / "include" / "ctflive").glob("*.h"))
    assert src == dst
    for page in ("man8/ctflive-relayd.8", "man1/ctflive.1", "man1/ctflive-view.1",
                 "man1/ctflive-follow.1", "man1/ctflive-ls.1", "man1/ctflive-web.1"):
        assert (prefix / "share" / "man" / page).is_file(), page
    assert (prefix / "share" / "bash-completion" / "completions" / "ctflive").is_file()
    # The service: unit, system user, options file (under the prefix).
    unit = (prefix / "lib" / "systemd" / "system" / "ctflive-relayd.service").read_text()
    assert "Type=notify" in unit
    assert (prefix / "lib" / "sysusers.d" / "ctflive-relayd.conf").is_file()
    assert (prefix / "etc" / "default" / "ctflive-relayd").is_file()
    soname = run(["readelf", "-d", str(real)])
    assert "Library soname: [libctflive.so.0]" in soname


def test_exports_only_public_api(stage):
    _, libdir = stage
    out = run(["nm", "-D", "--defined-only", str(libdir / "libctflive.so.0")])
    names = [line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()]
    names = [n for n in names if n != "CTFLIVE_0"]
    assert names, "nothing exported"
    assert [n for n in names if not n.startswith("ctflive_")] == []
    assert "ctflive_iter_open_dirs" in names


@pytest.fixture(scope="module")
def programs(stage, tmp_path_factory):
    _, libdir = stage
    out = tmp_path_factory.mktemp("bin")
    cflags = pkg_config(stage, "--cflags")
    libs = pkg_config(stage, "--libs")
    rpath = [f"-Wl,-rpath,{libdir}"]
    warn = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]
    progs = {}
    progs["c"] = out / "count-events-c"
    run([CC, "-std=c17", *warn, *EXTRA, *cflags, str(PROGRAM), "-o", str(progs["c"]),
         *libs, *rpath])
    progs["c++"] = out / "count-events-cxx"
    run([CXX, "-std=c++17", *warn, *EXTRA, *cflags, "-x", "c++", str(PROGRAM), "-x", "none",
         "-o", str(progs["c++"]), *libs, *rpath])
    # The static archive: libctflive.a and Libs.private.
    static_libs = pkg_config(stage, "--static", "--libs")
    static_libs = ["-Wl,-Bstatic", "-lctflive", "-Wl,-Bdynamic"] + [
        a for a in static_libs if a != "-lctflive"]
    progs["static"] = out / "count-events-static"
    run([CC, "-std=c17", *warn, *EXTRA, *cflags, str(PROGRAM), "-o", str(progs["static"]),
         *static_libs])
    return progs


def test_programs_link_as_expected(stage, programs):
    _, libdir = stage
    out = run(["ldd", str(programs["c"])])
    assert f"libctflive.so.0 => {libdir}/libctflive.so.0" in out
    assert "libctflive" not in run(["ldd", str(programs["static"])])


@pytest.mark.parametrize("name", TRACES)
def test_count_equals_view(stage, programs, name):
    prefix, _ = stage
    trace = FIXTURES / "ctf-traces" / "succeed" / name
    if not trace.is_dir():
        pytest.skip(f"fixture {trace} missing")
    view = subprocess.run([str(prefix / "bin" / "ctflive"), "view", str(trace)],
                          capture_output=True, text=True)
    assert view.returncode == 0, view.stderr
    expected = len(view.stdout.splitlines())
    assert expected > 0
    for kind, prog in programs.items():
        got = run([str(prog), str(trace)]).strip()
        assert got == str(expected), f"{kind}: {got} events, ctflive view printed {expected}"
