"""The `--html` explanation page in a real headless Chromium, offline (the bertviz pages' harness,
tests/e2e/test_bertviz_browser.py): a sentence holding `</script><script>...` is shown as text and runs nothing, and the
page asks the network for nothing. Built from an Explanation directly: no model needed, so it is fast; skipped where
Chromium is missing (.ci/install-browser installs it) or TUNELAB_SKIP_BROWSER=1."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser

import pytest

from test_bertviz_browser import INJECTION, RenderedPage, Refuser, page_requests
from tunelab.core.explain import Explanation
from tunelab.core.explain_html import write_explanation_page


@pytest.fixture(scope="module")
def chromium():
    path = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if os.environ.get("TUNELAB_SKIP_BROWSER") == "1" or not os.path.isfile(path):
        pytest.skip("no Chromium (run .ci/install-browser) or TUNELAB_SKIP_BROWSER=1")
    return path


@pytest.fixture
def no_network():
    import socketserver
    import threading

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuser) as server:
        server.daemon_threads, server.requests = True, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.server_address[1], server.requests
        server.shutdown()


class Texts(HTMLParser):
    """The text of the page's input line and of its coloured words, as the browser's DOM holds them."""

    def __init__(self, dom: str):
        super().__init__()
        self.input, self.words, self._in = "", [], None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class")
        if cls == "input":
            self._in = "input"
        elif cls == "w":
            self._in = "w"
            self.words.append("")

    def handle_endtag(self, tag):
        if tag in ("p", "span"):
            self._in = None

    def handle_data(self, data):
        if self._in == "input":
            self.input += data
        elif self._in == "w":
            self.words[-1] += data


def render(chromium: str, page, profile, port: int) -> str:
    """Chromium's DOM of the page opened from file://, every network request sent to the refusing proxy."""
    import subprocess

    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                           f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>",
                           f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_script_in_the_sentence_is_shown_and_runs_nothing(chromium, no_network, tmp_path):
    text = f"look {INJECTION} here"
    words = ["look", INJECTION, "here"]
    e = Explanation(text, None, words, [0, 0, 0], [0.1, -0.5, 0.9], "grad-input", f"pos {INJECTION}", True, False,
                    0.8)
    page = write_explanation_page(e, tmp_path / "why.html", model="m</title><script>x</script>")
    assert "<script" not in page.read_text(encoding="utf-8").lower()
    dom = render(chromium, page, tmp_path / "profile", no_network[0])
    rendered, texts = RenderedPage(dom), Texts(dom)
    assert rendered.title == f"TuneLab explanation: pos {INJECTION}"          # shown as text
    assert "data-pwned" not in rendered.root_attrs                            # and never run
    assert texts.input == text and texts.words == words
    assert page_requests(no_network[1]) == []


def test_the_control_a_page_with_the_script_unescaped_does_run_it(chromium, no_network, tmp_path):
    """The check has teeth: the same page with the sentence pasted in raw, and no CSP, runs the payload."""
    e = Explanation(f"look {INJECTION}", None, ["look"], [0], [0.1], "ig", "pos", True, False, 0.8)
    page = write_explanation_page(e, tmp_path / "why.html")
    html = page.read_text(encoding="utf-8")
    html = html.replace(html[html.index('<meta http-equiv'):html.index("<title>")], "")
    html = html.replace('<p class="input">', f'<p class="input">{INJECTION}', 1)
    page.write_text(html, encoding="utf-8")
    rendered = RenderedPage(render(chromium, page, tmp_path / "profile", no_network[0]))
    assert rendered.title == "pwned" and rendered.root_attrs.get("data-pwned") == "1"
