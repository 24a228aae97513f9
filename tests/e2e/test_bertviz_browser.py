"""The exported bertviz pages in a real headless Chromium, offline: they draw the bundled model's tokens for a
sentence and a pair, and a sentence carrying a script runs nothing; both kinds of page: the default one that
loads require.js, d3 and jQuery from bertviz's CDN, and the self-contained one that has them inlined.

Needs Debian's chromium and local copies of the three scripts bertviz's HTML loads from its CDN: run
`.ci/install-browser`. Paths: $TUNELAB_CHROMIUM (default: chromium on PATH) and $TUNELAB_BROWSER_JS (default:
.ci/.cache/browser-js). A default page is served as a copy whose CDN URLs point at a server on 127.0.0.1, and
Chromium may resolve no other host. A self-contained page is opened from file:// with every network request
refused: all of them go to a proxy on 127.0.0.1 that answers 403 and records them, and it must record none.
TUNELAB_SKIP_BROWSER=1 skips it; otherwise missing pieces fail it.
"""

from __future__ import annotations

import functools
import os
import shutil
import socketserver
import subprocess
import threading
import uuid
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tunelab.core.attention import AttentionResult, attention_for, load_attention_model
from tunelab.core.bertviz_export import _PAGE, export_attention
from tunelab.core.bertviz_scripts import ENV as SCRIPTS_ENV

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CDN = "https://cdnjs.cloudflare.com/ajax/libs/"
SCRIPTS = {"require.js/2.3.6/require.min.js": "require.min.js", "d3/5.7.0/d3.min.js": "d3.min.js",
           "jquery/2.0.0/jquery.min.js": "jquery.min.js"}
PAYLOAD = "document.title='pwned';document.documentElement.setAttribute('data-pwned','1')"
INJECTION = f"</script><script>{PAYLOAD}</script>"
# A user's click on the first thumbnail of the model view, which then draws that head's tokens.
CLICK_FIRST_HEAD = """<script>
(function click() {
  var box = document.querySelector("rect.attn_background");
  if (!box) { return setTimeout(click, 50); }
  box.parentNode.lastElementChild.dispatchEvent(new MouseEvent("click", {bubbles: true}));
})();
</script>"""


@pytest.fixture(scope="module")
def browser():
    chromium = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    js_dir = Path(os.environ.get("TUNELAB_BROWSER_JS") or REPO / ".ci" / ".cache" / "browser-js")
    missing = [str(p) for p in [Path(chromium), *(js_dir / name for name in SCRIPTS.values())] if not p.is_file()]
    if missing:
        if os.environ.get("TUNELAB_SKIP_BROWSER") == "1":
            pytest.skip("TUNELAB_SKIP_BROWSER=1")
        pytest.fail(f"missing {', '.join(missing)}: run .ci/install-browser (installs chromium and bertviz's scripts)")
    return chromium, js_dir


@pytest.fixture
def site(tmp_path, browser):
    """A folder served on 127.0.0.1 holding bertviz's CDN scripts; yields (folder, base URL)."""
    root = tmp_path / "site"
    for url_path, name in SCRIPTS.items():
        (root / "libs" / url_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(browser[1] / name, root / "libs" / url_path)
    handler = functools.partial(QuietHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()


class Refuser(socketserver.StreamRequestHandler):
    """A proxy that lets nothing through: it records each request line and answers 403."""

    def handle(self):
        line = self.rfile.readline(4096).decode("latin-1").strip()
        if line:
            self.server.requests.append(line)
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def no_network():
    """A refusing proxy on 127.0.0.1; yields (its port, the list of request lines it refused)."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuser) as server:
        server.daemon_threads, server.requests = True, []
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[1], server.requests
        server.shutdown()


# Chromium itself calls these (component updates, network time, accounts) whatever the flags; they are refused
# like everything else, but only what the page asked for counts.
BROWSER_SERVICES = (".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com")


def page_requests(refused: list[str]) -> list[str]:
    """The refused request lines that came from the page, not from Chromium's own services."""
    def host(line: str) -> str:
        target = line.split()[1] if len(line.split()) > 1 else ""
        return target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()

    return [line for line in refused if not ("." + host(line)).endswith(BROWSER_SERVICES)]


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files fresh on every request: no caching, and never a 304 for a rewritten file."""

    def send_head(self):
        del self.headers["If-Modified-Since"], self.headers["If-None-Match"]
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
        self.send_header("Pragma", "no-cache")
        self.send_header("Expires", "0")
        super().end_headers()

    def log_message(self, *args):
        pass


class RenderedPage(HTMLParser):
    """The title, the root element's attributes and the SVG <text> strings of a DOM dump."""

    def __init__(self, dom: str):
        super().__init__()
        self.title, self.root_attrs, self.svg_texts, self._in = "", {}, [], None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.root_attrs = dict(attrs)
        if tag in ("title", "text"):
            self._in = tag
            if tag == "text":
                self.svg_texts.append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "text":
            self.svg_texts[-1] += data


def open_in_chromium(browser, site, page_file: str, *, click_first_head: bool = False, draws: bool = True) -> RenderedPage:
    """Serve a copy of the page with its CDN URLs pointed at the local server; return Chromium's rendered DOM.

    Each call gets its own URL and its own fresh Chromium profile, so no page can be served from an earlier
    call's cache (the server also sends no-cache headers)."""
    chromium, _ = browser
    root, base = site
    html = Path(page_file).read_text(encoding="utf-8")
    assert html.count(CDN) == 3  # require.js in the page, d3 and jQuery in the require config
    html = html.replace(CDN, base + "libs/")
    if click_first_head:
        html = html.replace("</body>", CLICK_FIRST_HEAD + "\n</body>")
    call = uuid.uuid4().hex
    (root / "pages" / call).mkdir(parents=True)
    (root / "pages" / call / "page.html").write_text(html, encoding="utf-8")
    profile = root.parent / "chromium-profiles" / call
    return run_chromium(chromium, f"{base}pages/{call}/page.html", profile, draws=draws)


def open_with_no_network(browser, no_network, page_file: str, *, click_first_head: bool = False,
                         draws: bool = True) -> RenderedPage:
    """Open the page itself from file://, every network request sent to the refusing proxy; its own URL and a
    fresh profile per call, as in open_in_chromium."""
    chromium, _ = browser
    port, _ = no_network
    html = Path(page_file).read_text(encoding="utf-8")
    if click_first_head:
        html = html.replace("</body>", CLICK_FIRST_HEAD + "\n</body>")
    call = uuid.uuid4().hex
    folder = Path(page_file).parent.parent / "offline-pages" / call
    folder.mkdir(parents=True)
    (folder / "page.html").write_text(html, encoding="utf-8")
    # every host resolves to nothing but the proxy, and loopback goes through the proxy too
    network = [f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>"]
    return run_chromium(chromium, (folder / "page.html").as_uri(), folder.parent / f"profile-{call}", network,
                        draws=draws)


def run_chromium(chromium: str, url: str, profile: Path, extra: list[str] = (), *, draws: bool = True) -> RenderedPage:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", *extra,
               f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and ("<svg" in done.stdout or not draws), done.stderr[-2000:]
    return RenderedPage(done.stdout)


@pytest.fixture(scope="module")
def minilm():
    return load_attention_model("minilm-l6")


def test_head_view_draws_the_tokens_of_a_sentence(browser, site, minilm, tmp_path):
    result = attention_for(*minilm, "The keys to the cabinet are on the table.")
    export = export_attention(result, tmp_path / "out")
    page = open_in_chromium(browser, site, export.files["head_view"])
    assert page.svg_texts == result.tokens * 2  # the left and the right column
    assert page.title == "TuneLab attention: head view"


def test_both_views_draw_a_pair_and_the_model_view_opens_a_head(browser, site, minilm, tmp_path):
    result = attention_for(*minilm, "The keys to the cabinet are on the table.", "They are not in the drawer.")
    export = export_attention(result, tmp_path / "out", layers=[0, 3], heads=[1, 2])
    head = open_in_chromium(browser, site, export.files["head_view"])
    assert head.svg_texts == result.tokens * 2 and "drawer" in head.svg_texts
    model = open_in_chromium(browser, site, export.files["model_view"], click_first_head=True)
    # the grid is labelled with the model's own layer and head numbers, and the opened head shows the tokens
    assert {"Heads", "Layers", "0", "3", "1", "2"} <= set(model.svg_texts)
    assert "Layer 0, Head 1" in model.svg_texts and model.svg_texts[-2 * len(result.tokens):] == result.tokens * 2


def test_a_script_in_the_sentence_runs_nothing_and_is_shown(browser, site, minilm, tmp_path):
    result = attention_for(*minilm, f"Look {INJECTION}<script>alert(1)</script> here.")
    export = export_attention(result, tmp_path / "out", layers=[5], heads=[0, 11])  # a full model view: 30 s
    for name in ("head_view", "model_view"):
        page = open_in_chromium(browser, site, export.files[name], click_first_head=name == "model_view")
        assert page.title == f"TuneLab attention: {name.replace('_', ' ')}" and "data-pwned" not in page.root_attrs
        assert page.svg_texts[-2 * len(result.tokens):] == result.tokens * 2  # both columns, "<" and "/" as text


def test_a_token_holding_a_whole_script_tag_runs_nothing(browser, site, no_network, tmp_path):
    """Tokenizers with added tokens can keep `</script>` in one token: the page must still show it as text, in
    the default page and the self-contained one. The control shows the check has teeth: bertviz's own HTML,
    unescaped, does run it."""
    from bertviz import head_view
    import torch

    tokens = ["[CLS]", "look", INJECTION, "[SEP]"]
    attention = np.full((1, 1, 4, 4), 0.25, dtype=np.float32)
    export = export_attention(AttentionResult(tokens, attention, None, [0], [0]), tmp_path / "out")
    page = open_in_chromium(browser, site, export.files["head_view"])
    assert page.title == "TuneLab attention: head view" and "data-pwned" not in page.root_attrs
    assert page.svg_texts == tokens * 2

    inlined = export_attention(AttentionResult(tokens, attention, None, [0], [0]), tmp_path / "inlined",
                               self_contained=True, scripts_dir=browser[1])
    page = open_with_no_network(browser, no_network, inlined.files["head_view"])
    assert page.title == "TuneLab attention: head view" and "data-pwned" not in page.root_attrs
    assert page.svg_texts == tokens * 2 and page_requests(no_network[1]) == []

    raw = head_view([torch.from_numpy(attention)], tokens, html_action="return").data
    (tmp_path / "raw.html").write_text(_PAGE.format(title="raw bertviz", body=raw), encoding="utf-8")
    control = open_in_chromium(browser, site, str(tmp_path / "raw.html"), draws=False)  # the page breaks too
    assert control.title == "pwned" and control.root_attrs.get("data-pwned") == "1"


def test_self_contained_pages_draw_with_every_network_request_refused(browser, no_network, minilm, tmp_path,
                                                                      monkeypatch):
    """Scripts from $TUNELAB_BERTVIZ_JS (the npm copies), as CI does. The control: the default page, opened the
    same way, asks the CDN for require.js, is refused, and draws nothing."""
    monkeypatch.setenv(SCRIPTS_ENV, str(browser[1]))
    result = attention_for(*minilm, "The keys to the cabinet are on the table.", "They are not in the drawer.")
    export = export_attention(result, tmp_path / "out", layers=[0, 3], heads=[1, 2], self_contained=True)
    assert export.self_contained
    head = open_with_no_network(browser, no_network, export.files["head_view"])
    assert head.svg_texts == result.tokens * 2 and head.title == "TuneLab attention: head view"
    model = open_with_no_network(browser, no_network, export.files["model_view"], click_first_head=True)
    assert {"Heads", "Layers", "0", "3", "1", "2"} <= set(model.svg_texts)
    assert "Layer 0, Head 1" in model.svg_texts and model.svg_texts[-2 * len(result.tokens):] == result.tokens * 2
    assert page_requests(no_network[1]) == []  # the pages asked the network for nothing

    plain = export_attention(result, tmp_path / "plain", layers=[0], heads=[1])
    control = open_with_no_network(browser, no_network, plain.files["head_view"], draws=False)
    assert control.svg_texts == [] and any("cdnjs.cloudflare.com:443" in line for line in page_requests(no_network[1]))
