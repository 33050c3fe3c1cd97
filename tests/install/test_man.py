# SPDX-License-Identifier: MIT
"""Man pages: each renders with man(1), and the long options of a program's
`--help` are exactly those of its man page's OPTIONS section (the scdoc
source in doc/man/; the page built from it must show them too)."""
import os
import pathlib
import re
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build/dev")).resolve()
SOURCE = pathlib.Path(os.environ.get("CTFLIVE_SOURCE_DIR", ".")).resolve()
MAN_BUILD = BUILD / "doc" / "man"
RELAYD = BUILD / "src" / "relayd" / "ctflive-relayd"
CTFLIVE = BUILD / "src" / "cli" / "ctflive"

PAGES = {
    "ctflive-relayd.8": [RELAYD, "--help"],
    "ctflive.1": [CTFLIVE, "--help"],
    "ctflive-view.1": [CTFLIVE, "view", "--help"],
    "ctflive-follow.1": [CTFLIVE, "follow", "--help"],
    "ctflive-ls.1": [CTFLIVE, "ls", "--help"],
    "ctflive-web.1": [CTFLIVE, "web", "--help"],
    "ctflive-stream.1": [CTFLIVE, "stream", "--help"],
}
LONG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def options_section(scd):
    m = re.search(r"^# OPTIONS\n(.*?)(?=^# |\Z)", scd, re.M | re.S)
    assert m, "no OPTIONS section"
    return m.group(1)


def render(page):
    r = subprocess.run(["man", "-l", str(MAN_BUILD / page)], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C", MANWIDTH="200", MAN_KEEP_FORMATTING=""))
    assert r.returncode == 0, r.stderr
    return re.sub(r".\x08", "", r.stdout)


def test_every_page_listed():
    scds = sorted(p.name[:-4] for p in (SOURCE / "doc" / "man").glob("*.scd"))
    assert scds == sorted(PAGES)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_help_options_match_man(page):
    cmd = PAGES[page]
    r = subprocess.run([str(a) for a in cmd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    in_help = set(LONG.findall(r.stdout))
    assert in_help, f"{cmd}: no long option in --help"
    scd = (SOURCE / "doc" / "man" / f"{page}.scd").read_text()
    in_man = set(LONG.findall(options_section(scd)))
    assert sorted(in_help - in_man) == [], f"in --help, not in {page}"
    assert sorted(in_man - in_help) == [], f"in {page}, not in --help"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders(page):
    if not (MAN_BUILD / page).is_file():
        pytest.fail(f"{MAN_BUILD / page} not built (scdoc missing?)")
    text = render(page)
    name = page.rsplit(".", 1)[0]
    assert re.search(rf"^NAME\n\s+{re.escape(name)} - ", text, re.M), text[:300]
    cmd = PAGES[page]
    r = subprocess.run([str(a) for a in cmd], capture_output=True, text=True)
    for opt in set(LONG.findall(r.stdout)):
        assert opt in text, f"{opt} not shown by man {page}"
