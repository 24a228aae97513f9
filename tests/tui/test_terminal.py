"""The real app in a real pseudo-terminal, as `tunelab` opens it over SSH: it draws its first screen in an 80x24
terminal that offers only 256 colours (TERM=xterm-256color, no COLORTERM), in every TuneLab theme, and quits
cleanly on ctrl+q. Snapshots cover layouts in truecolor; this covers what a 256-colour terminal receives."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tunelab.themes import THEMES

SGR = re.compile(rb"\x1b\[([0-9;]*)m")


def colours(out: bytes) -> dict[str, set]:
    """The colours the app's SGR sequences set: {"fg256", "bg256", "truecolor"} -> set of values."""
    found = {"fg256": set(), "bg256": set(), "truecolor": set()}
    for params in SGR.findall(out):
        codes = params.decode().split(";")
        i = 0
        while i < len(codes):
            if codes[i] in ("38", "48") and i + 1 < len(codes):
                if codes[i + 1] == "5":
                    found["fg256" if codes[i] == "38" else "bg256"].add(int(codes[i + 2]))
                    i += 3
                    continue
                if codes[i + 1] == "2":
                    found["truecolor"].add(tuple(codes[i + 2:i + 5]))
                    i += 5
                    continue
            i += 1
    return found


def open_app(tmp_path, extra_env: dict, size=(80, 24), wait_for=b"Start", timeout=60.0) -> tuple[bytes, int]:
    """Start `tunelab` on a pty of `size`, read until `wait_for` has been drawn, press ctrl+q, and return
    everything the app wrote and its exit status."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM")}
    env.update({"TUNELAB_HOME": str(tmp_path / "home")}, **extra_env)

    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "tunelab"], env=env, cwd=tmp_path, stdin=slave, stdout=slave,
                            stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    out = bytearray()

    def read_some(wait: float) -> None:
        if select.select([master], [], [], wait)[0]:
            try:
                out.extend(os.read(master, 65536))
            except OSError:
                pass

    try:
        deadline = time.monotonic() + timeout
        while wait_for not in out and time.monotonic() < deadline and proc.poll() is None:
            read_some(0.1)
        assert wait_for in out, f"the app drew no {wait_for!r} in {timeout:.0f}s: {bytes(out[-2000:])!r}"
        time.sleep(0.5)                                   # let the rest of the first frame arrive
        read_some(0.2)
        os.write(master, b"\x11")                         # ctrl+q
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            read_some(0.1)
        status = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return bytes(out), status


@pytest.fixture(scope="module")
def home_with_theme(tmp_path_factory):
    def make(theme: str):
        root = tmp_path_factory.mktemp(theme)
        (root / "home").mkdir()
        (root / "home" / "tui.json").write_text(json.dumps({"theme": theme}))
        return root
    return make


@pytest.mark.parametrize("theme", [t.name for t in THEMES])
def test_draws_in_a_256_colour_terminal(home_with_theme, theme):
    out, status = open_app(home_with_theme(theme), {"TERM": "xterm-256color"})
    assert status == 0
    assert b"Traceback" not in out
    used = colours(out)
    assert not used["truecolor"], "a truecolor sequence went to a 256-colour terminal"
    foreground, background = used["fg256"], used["bg256"]
    # the theme survives the downgrade: text, muted text, accents and panels still come out as distinct shades
    assert len(foreground) >= 5 and len(background) >= 2, (foreground, background)
    assert foreground - background, "every text colour equals a background colour"


def test_uses_truecolor_where_the_terminal_says_so(tmp_path):
    out, status = open_app(tmp_path, {"TERM": "xterm-256color", "COLORTERM": "truecolor"})
    assert status == 0 and len(colours(out)["truecolor"]) >= 5
