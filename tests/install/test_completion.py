# SPDX-License-Identifier: MIT
"""bash completion of ctflive: the subcommands of `ctflive --help`, and for
each subcommand exactly the long options of its `--help`."""
import os
import pathlib
import re
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build/dev")).resolve()
SOURCE = pathlib.Path(os.environ.get("CTFLIVE_SOURCE_DIR", ".")).resolve()
CTFLIVE = BUILD / "src" / "cli" / "ctflive"
SCRIPT = SOURCE / "scripts" / "completion" / "ctflive.bash"
LONG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def complete(*words):
    """COMPREPLY of _ctflive for the command line `ctflive WORDS...`."""
    line = " ".join(f"'{w}'" for w in ("ctflive",) + words)
    prog = (f"source '{SCRIPT}'; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
            "_ctflive; printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return {w for w in r.stdout.split("\n") if w}


def help_text(*args):
    r = subprocess.run([str(CTFLIVE), *args, "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_subcommands():
    commands = set(re.findall(r"^  ([a-z]+)\s", help_text(), re.M))
    assert commands
    assert complete("") == commands
    assert complete("--") == set(LONG.findall(help_text()))


@pytest.mark.parametrize("cmd", ["view", "follow", "ls", "web", "stream"])
def test_options_match_help(cmd):
    assert complete(cmd, "--") == set(LONG.findall(help_text(cmd)))


def test_directories_and_values(tmp_path):
    (tmp_path / "trace-a").mkdir()
    (tmp_path / "file").write_text("")
    assert complete("view", f"{tmp_path}/") == {f"{tmp_path}/trace-a"}
    assert "payload" in complete("view", "--names", "")
    assert "trace:hostname" in complete("follow", "-f", "trace:")
