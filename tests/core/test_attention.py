"""Attention extraction (core.attention) and the bertviz export (core.bertviz_export) on tiny random BERTs;
two slow tests run the bundled MiniLM."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import build_tiny_bert
from tunelab.core.attention import AttentionResult, attention_for, batch_attentions, load_attention_model
from tunelab.core.bertviz_export import export_attention, load_export
from tunelab.core.errors import TuneLabError

INJECTION = "</script><script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return load_attention_model(str(tiny_bert))


def embedded_params(page: str) -> dict:
    """The params bertviz embeds in its page, as the browser's JSON parser reads them."""
    marker = "const params = "
    return json.JSONDecoder().raw_decode(page, page.index(marker) + len(marker))[0]


def fake_result(tokens: list[str], layers: int = 1, heads: int = 1, seed: int = 0) -> AttentionResult:
    rng = np.random.default_rng(seed)
    raw = rng.random((layers, heads, len(tokens), len(tokens)), dtype=np.float32)
    return AttentionResult(tokens, raw / raw.sum(-1, keepdims=True), None, list(range(layers)), list(range(heads)))


# ---------------------------------------------------------------- extraction

def test_sentence_attention_has_one_row_per_token_summing_to_one(tiny):
    result = attention_for(*tiny, "the cat sat on the mat .")
    n = len(result.tokens)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]" and "cat" in result.tokens
    assert result.attentions.shape == (2, 2, n, n) and result.attentions.dtype == np.float32
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)
    assert result.sentence_b_start is None and result.layers == [0, 1] and result.heads == [0, 1]
    assert not result.truncated


def test_pair_marks_where_the_second_sentence_starts(tiny):
    result = attention_for(*tiny, "the cat sat", "on the mat")
    b = result.sentence_b_start
    assert result.tokens[b - 1] == "[SEP]" and result.tokens[b:] == ["on", "the", "mat", "[SEP]"]


@pytest.mark.parametrize("text, pair", [("", None), ("   \n", None), ("the cat", "  ")])
def test_empty_sentence_is_a_user_error(tiny, text, pair):
    with pytest.raises(TuneLabError, match="empty"):
        attention_for(*tiny, text, pair)


def test_long_input_is_cut_to_the_model_maximum(tiny):
    result = attention_for(*tiny, " ".join(["cat"] * 100))
    assert len(result.tokens) == 64 and result.truncated  # tiny_bert has 64 positions
    assert result.tokens[-1] == "[SEP]"


def test_a_run_directory_with_a_classifier_loads_as_its_encoder(tmp_path):
    build_tiny_bert(tmp_path / "run" / "model", num_labels=2)
    (tmp_path / "run" / "run.json").write_text("{}")
    model, tokenizer = load_attention_model(str(tmp_path / "run"))
    assert model.config._attn_implementation == "eager" and not model.training
    assert attention_for(model, tokenizer, "the dog ran").attentions.shape[:2] == (2, 2)


def test_a_model_without_attention_weights_is_refused(tiny_bert, monkeypatch):
    from transformers import AutoModel

    sdpa = AutoModel.from_pretrained(tiny_bert, attn_implementation="sdpa")
    with pytest.raises(TuneLabError, match="no attention weights"):
        attention_for(sdpa, load_attention_model(str(tiny_bert))[1], "the cat")
    monkeypatch.setattr(AutoModel, "from_pretrained", lambda *a, **k: sdpa)
    with pytest.raises(TuneLabError, match="returns no attention weights"):
        load_attention_model(str(tiny_bert))


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(TuneLabError, match="does not exist"):
        load_attention_model(str(tmp_path / "nowhere"))


def test_batches_give_the_same_attention_as_one_sentence_at_a_time(tiny):
    texts = ["the cat", "the big red dog sat near the table .", "a boy ran", ("the keys", "are on the table")]
    examples = list(batch_attentions(*tiny, texts, batch_size=3))
    assert len(examples) == len(texts)
    for text, (ids, attention) in zip(texts, examples):
        single = attention_for(*tiny, *(text if isinstance(text, tuple) else (text,)))
        assert tiny[1].convert_ids_to_tokens(ids.tolist()) == single.tokens  # padding cut off
        np.testing.assert_allclose(attention, single.attentions, atol=1e-5)


def test_select_keeps_the_asked_layers_and_heads(tiny):
    result = attention_for(*tiny, "the cat sat")
    kept = result.select(layers=[1], heads=[1, 0])
    assert kept.layers == [1] and kept.heads == [1, 0]
    np.testing.assert_array_equal(kept.attentions[0, 0], result.attentions[1, 1])
    with pytest.raises(TuneLabError, match=r"layer 5 is out of range.*0-1"):
        result.select(layers=[5])
    with pytest.raises(TuneLabError, match=r"head -1 is out of range.*0-1"):
        result.select(heads=[-1])


# ---------------------------------------------------------------- export

def test_export_round_trips_into_bertviz(tiny, tmp_path):
    from bertviz import head_view, model_view

    result = attention_for(*tiny, "the keys to the cabinet", "are on the table")
    export = export_attention(result, tmp_path / "out", meta={"model": "tiny"})
    assert sorted(os.listdir(tmp_path / "out")) == ["attention.npz", "head_view.html", "model_view.html", "tokens.json"]
    for name in ("head_view", "model_view"):
        page = open(export.files[name], encoding="utf-8").read()
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
        assert embedded_params(page)["attention"][0]["left_text"] == result.tokens
    attention, tokens, b_start = loaded = load_export(tmp_path / "out")
    assert tokens == result.tokens and b_start == result.sentence_b_start
    assert [tuple(a.shape) for a in attention] == [(1, 2, len(tokens), len(tokens))] * 2
    np.testing.assert_array_equal(np.stack([a[0].numpy() for a in attention]), result.attentions)
    for view in (head_view, model_view):
        page = view(*loaded, html_action="return").data
        assert embedded_params(page)["attention"][0]["right_text"] == result.tokens


def test_export_filters_keep_exactly_the_asked_layers_and_heads(tiny, tmp_path):
    result = attention_for(*tiny, "the cat sat on the mat")
    export = export_attention(result, tmp_path, layers=[1], heads=[0])
    assert export.layers == [1] and export.heads == [0]
    meta = json.loads((tmp_path / "tokens.json").read_text())
    assert meta["layers"] == [1] and meta["heads"] == [0]
    attention = load_export(tmp_path).attention
    assert len(attention) == 1
    np.testing.assert_array_equal(attention[0][0, 0].numpy(), result.attentions[1, 0])
    # the pages label the kept layer (and, in the model view, head) with the model's own indices
    head = embedded_params(open(export.files["head_view"]).read())
    model = embedded_params(open(export.files["model_view"]).read())
    assert head["include_layers"] == [1] and np.array(head["attention"][0]["attn"]).shape[:2] == (1, 1)
    assert model["include_layers"] == [1] and model["include_heads"] == [0]
    np.testing.assert_allclose(model["attention"][0]["attn"][0][0], result.attentions[1, 0], atol=1e-4)


def test_out_of_range_filter_names_the_valid_range_and_writes_nothing(tiny, tmp_path):
    result = attention_for(*tiny, "the cat")
    with pytest.raises(TuneLabError, match=r"layer 7 is out of range: this model's layers are 0-1"):
        export_attention(result, tmp_path / "out", layers=[0, 7])
    assert not (tmp_path / "out").exists()


def test_script_in_a_token_is_escaped_and_still_shown(tmp_path):
    tokens = ["[CLS]", INJECTION, "<!--<script>", "a\u2028b & c", "[SEP]"]
    export = export_attention(fake_result(tokens), tmp_path)
    for name in ("head_view", "model_view"):
        page = open(export.files[name], encoding="utf-8").read()
        # the only script end tags are bertviz's own two: the injected one cannot close the block early
        assert page.lower().count("</script") == page.lower().count("<script") == 2
        assert "<!--" not in page and "\u2028" not in page and "\\u003c/script\\u003e" in page
        assert embedded_params(page)["attention"][0]["left_text"] == tokens  # displayed as written
    assert load_export(tmp_path).tokens == tokens


def test_long_input_warns_with_advice(tmp_path):
    export = export_attention(fake_result([f"w{i}" for i in range(130)]), tmp_path)
    assert len(export.warnings) == 1 and "130 tokens" in export.warnings[0] and "--layers" in export.warnings[0]
    assert not export_attention(fake_result(["a"] * 20), tmp_path).warnings


def test_a_failed_export_leaves_the_previous_files_whole(tiny, tmp_path, monkeypatch):
    import tunelab.core.bertviz_export as bx

    export_attention(attention_for(*tiny, "the cat"), tmp_path)
    before = {p: open(tmp_path / p, "rb").read() for p in os.listdir(tmp_path)}
    monkeypatch.setattr(bx, "_npz_bytes", lambda array: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        export_attention(attention_for(*tiny, "the dog ran"), tmp_path)
    real_fdopen, calls = os.fdopen, []

    def failing_fdopen(fd, *args, **kwargs):  # the disk fills up while the second file is written
        calls.append(fd)
        if len(calls) == 2:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.undo()
    monkeypatch.setattr(bx.os, "fdopen", failing_fdopen)
    with pytest.raises(TuneLabError, match="No space left"):
        export_attention(attention_for(*tiny, "the dog ran"), tmp_path)
    assert {p: open(tmp_path / p, "rb").read() for p in os.listdir(tmp_path)} == before  # no temp files either


def test_a_failed_export_into_a_new_folder_leaves_no_folder(tiny, tmp_path, monkeypatch):
    import tunelab.core.bertviz_export as bx

    def full(fd, *args, **kwargs):
        os.close(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bx.os, "fdopen", full)
    with pytest.raises(TuneLabError, match="No space left"):
        export_attention(attention_for(*tiny, "the cat"), tmp_path / "new" / "deeper")
    assert os.listdir(tmp_path) == []          # neither folder it made, nor a temporary file


def test_export_into_a_file_path_is_a_user_error(tiny, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(TuneLabError, match="taken"):
        export_attention(attention_for(*tiny, "the cat"), tmp_path / "taken")


# ---------------------------------------------------------------- self-contained pages (core.bertviz_scripts)

# Stand-ins for require.js, d3 and jQuery, pinned by the fixture below: each has a licence comment, and two hold
# the strings that would break an inlined <script> block if left as they are.
FAKE_JS = {
    "require.min.js": '/** @license FakeRequire 1.0, MIT */\nvar requirejs = function () {}, define = requirejs;\n',
    "d3.min.js": '// https://d3js.org fake, Copyright 2018\nwindow.d3 = {re: /<\\/SCRIPT>/i, s: "</ScRiPt >"};\n',
    "jquery.min.js": ('/*! fake jQuery | jquery.org/license */\n'
                      'window.jQuery = {h: "<!-- x --></script><script>alert(1)"};\n'),
}


@pytest.fixture
def fake_scripts(tmp_path, monkeypatch):
    """The three fake scripts pinned in place of the real ones, an empty cache, no $TUNELAB_BERTVIZ_JS, and a
    CDN that cannot be reached; yields a folder holding the fakes and the list of URLs downloaded."""
    import hashlib
    import urllib.error

    from tunelab.core import bertviz_scripts as bs

    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(bs.ENV, raising=False)
    monkeypatch.setattr(bs, "SCRIPTS", tuple(
        bs.Script(name, f"https://cdn.test/{name}", {hashlib.sha256(text.encode()).hexdigest(): f"fake {name}"})
        for name, text in FAKE_JS.items()))
    downloads = []

    def offline(url, timeout):
        downloads.append(url)
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(bs, "_download", offline)
    folder = tmp_path / "js"
    folder.mkdir()
    for name, text in FAKE_JS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder, downloads


def script_blocks(page: str) -> list[str]:
    """The text of each <script> block as an HTML parser splits the page."""
    from html.parser import HTMLParser

    class Blocks(HTMLParser):
        def __init__(self):
            super().__init__()
            self.blocks, self.inside = [], False

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.blocks.append("")
                self.inside = True

        def handle_endtag(self, tag):
            self.inside = False if tag == "script" else self.inside

        def handle_data(self, data):
            if self.inside:
                self.blocks[-1] += data

    parser = Blocks()
    parser.feed(page)
    return parser.blocks


def test_self_contained_pages_inline_the_scripts_whole_with_their_licences(fake_scripts, tmp_path):
    from tunelab.core.bertviz_export import inline_js

    folder, downloads = fake_scripts
    tokens = ["[CLS]", INJECTION, "[SEP]"]
    export = export_attention(fake_result(tokens, layers=2, heads=2), tmp_path / "out", self_contained=True,
                              scripts_dir=folder)
    assert export.self_contained and not downloads
    for name in ("head_view", "model_view"):
        page = open(export.files[name], encoding="utf-8").read()
        assert "cdnjs" not in page and "<script src" not in page and "require.config(" not in page
        blocks = script_blocks(page)
        # jQuery and d3 before require.js, then their AMD names, then bertviz's code: five blocks, none cut short
        assert len(blocks) == 5 and page.lower().count("</script") == 5
        for block, name_ in zip(blocks, ("jquery.min.js", "d3.min.js", "require.min.js")):
            assert block == f"\n/* {name_}: fake {name_}; inlined by TuneLab */\n{inline_js(FAKE_JS[name_])}\n"
            assert FAKE_JS[name_].splitlines()[0] in block  # the licence notice, as written
            assert "</script" not in block.lower() and "<!--" not in block
        assert 'define("d3", [], function () { return d3; });' in blocks[3]
        assert embedded_params(page)["attention"][0]["left_text"] == tokens
    assert '"<\\!-- x --><\\/script><script>alert(1)"' in inline_js(FAKE_JS["jquery.min.js"])
    assert '"<\\/ScRiPt >"' in inline_js(FAKE_JS["d3.min.js"]) and "/<\\/SCRIPT>/i" in inline_js(FAKE_JS["d3.min.js"])
    plain = export_attention(fake_result(tokens, layers=2, heads=2), tmp_path / "plain")
    assert not plain.self_contained and open(plain.files["head_view"]).read().count("cdnjs.cloudflare.com") == 3


def test_scripts_come_from_the_env_folder_when_no_folder_is_given(fake_scripts, tmp_path, monkeypatch):
    from tunelab.core import bertviz_scripts as bs

    folder, downloads = fake_scripts
    monkeypatch.setenv(bs.ENV, str(folder))
    assert bs.load_scripts() == FAKE_JS and not downloads
    (folder / "d3.min.js").unlink()
    with pytest.raises(TuneLabError, match=r"\$TUNELAB_BERTVIZ_JS .* lacks d3.min.js") as err:
        bs.load_scripts()
    assert "\n" not in str(err.value)


def test_a_script_that_is_not_pinned_is_refused_in_one_line(fake_scripts, tmp_path):
    from tunelab.core import bertviz_scripts as bs

    folder, _ = fake_scripts
    (folder / "jquery.min.js").write_text(FAKE_JS["jquery.min.js"] + "evil();\n", encoding="utf-8")
    with pytest.raises(TuneLabError, match=r"jquery.min.js has sha256 [0-9a-f]{64}, which is not a pinned copy") as err:
        export_attention(fake_result(["a", "b"]), tmp_path / "out", self_contained=True, scripts_dir=folder)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
    with pytest.raises(TuneLabError, match="--scripts .* lacks require.min.js, d3.min.js, jquery.min.js"):
        bs.load_scripts(tmp_path / "empty")


def test_no_cache_and_no_network_is_one_line_saying_how_to_fill_the_cache(fake_scripts, tmp_path):
    from tunelab.core import bertviz_scripts as bs

    _, downloads = fake_scripts
    with pytest.raises(TuneLabError) as err:
        export_attention(fake_result(["a", "b"]), tmp_path / "out", self_contained=True)
    message = str(err.value)
    assert "\n" not in message and "Temporary failure in name resolution" in message
    assert "tunelab attention --fetch-scripts" in message and str(bs.cache_dir()) in message and "--scripts" in message
    assert downloads == ["https://cdn.test/require.min.js"] and not (tmp_path / "out").exists()
    with pytest.raises(TuneLabError, match="fetch-scripts") as err:
        bs.load_scripts(download=False)
    assert "\n" not in str(err.value) and len(downloads) == 1


def test_the_cache_fills_once_from_the_cdn_and_refetches_only_a_damaged_file(fake_scripts, tmp_path, monkeypatch):
    from tunelab.core import bertviz_scripts as bs

    _, downloads = fake_scripts
    served = dict(FAKE_JS)

    def cdn(url, timeout):
        downloads.append(url)
        return served[url.rsplit("/", 1)[1]].encode()

    monkeypatch.setattr(bs, "_download", cdn)
    export = export_attention(fake_result(["a", "b"]), tmp_path / "out", self_contained=True)  # fills the cache
    assert export.self_contained and len(downloads) == 3
    assert {p.name: p.read_text() for p in bs.cache_dir().iterdir()} == FAKE_JS  # no temporary files left
    assert bs.load_scripts() == FAKE_JS and len(downloads) == 3  # from the cache, no download
    (bs.cache_dir() / "d3.min.js").write_text("damaged")
    assert bs.load_scripts() == FAKE_JS and downloads[3:] == ["https://cdn.test/d3.min.js"]
    (bs.cache_dir() / "d3.min.js").unlink()
    served["d3.min.js"] = "window.d3 = 'tampered';"  # the CDN serves something else: never written
    with pytest.raises(TuneLabError, match=r"https://cdn.test/d3.min.js has sha256 .* refusing to inline it"):
        bs.load_scripts()
    assert not (bs.cache_dir() / "d3.min.js").exists()


def test_the_pinned_sums_cover_the_cdn_files_and_the_ci_copies():
    from tunelab.core import bertviz_scripts as bs

    assert [s.name for s in bs.SCRIPTS] == ["require.min.js", "d3.min.js", "jquery.min.js"]
    for script in bs.SCRIPTS:
        assert script.url.startswith(bs.CDN) and all(len(h) == 64 and int(h, 16) >= 0 for h in script.sha256)
    import bertviz

    loaded = (Path(bertviz.__file__).parent / "head_view.js").read_text() + bs.CDN + "require.js/2.3.6/require.min.js"
    assert all(script.url.removesuffix(".js") in loaded for script in bs.SCRIPTS)  # the URLs bertviz uses
    ci_copies = Path(__file__).resolve().parents[2] / ".ci" / ".cache" / "browser-js"
    if not ci_copies.is_dir():
        pytest.skip("no .ci/.cache/browser-js: run .ci/install-browser to check the npm copies' sums")
    assert set(bs.load_scripts(ci_copies)) == set(bs.NAMES)  # each npm copy matches a pinned sum


def test_cli_fetch_scripts_fills_the_cache_and_self_contained_fails_offline_in_one_line(fake_scripts, tmp_path,
                                                                                         tiny_bert, capsys,
                                                                                         monkeypatch):
    from tunelab.cli import main
    from tunelab.core import bertviz_scripts as bs

    folder, _ = fake_scripts
    out = tmp_path / "out"
    code = main(["attention", "--model", str(tiny_bert), "the cat", "--out", str(out), "--self-contained"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "tunelab attention --fetch-scripts" in err and not out.exists()
    code = main(["attention", "--fetch-scripts"])
    assert code == 2 and "cannot download https://cdn.test/require.min.js" in capsys.readouterr().err
    monkeypatch.setattr(bs, "_download", lambda url, timeout: FAKE_JS[url.rsplit("/", 1)[1]].encode())
    assert main(["attention", "--fetch-scripts"]) == 0 and "ready in" in capsys.readouterr().out
    assert sorted(p.name for p in bs.cache_dir().iterdir()) == sorted(FAKE_JS)
    monkeypatch.setattr(bs, "_download", None)  # offline again: the cache is enough
    code = main(["attention", "--model", str(tiny_bert), "the cat", "--out", str(out), "--self-contained", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["self_contained"] is True
    assert FAKE_JS["require.min.js"].splitlines()[0] in (out / "head_view.html").read_text()
    code = main(["attention", "--model", str(tiny_bert), "the cat", "--out", str(tmp_path / "o2"),
                 "--scripts", str(folder)])  # --scripts implies --self-contained
    assert code == 0 and "self-contained" in capsys.readouterr().out
    assert main(["attention", "--model", str(tiny_bert), "--out", str(out)]) == 2
    assert "give a sentence" in capsys.readouterr().err
    assert main(["attention", "--model", str(tiny_bert), "the cat"]) == 2
    assert "--out is required" in capsys.readouterr().err

# ---------------------------------------------------------------- the bundled MiniLM

@pytest.mark.slow
def test_bundled_minilm_attention_and_export(tmp_path):
    model, tokenizer = load_attention_model("minilm-l6")
    result = attention_for(model, tokenizer, "The keys to the cabinet are on the table.", "They are not here.")
    n = len(result.tokens)
    assert result.attentions.shape == (6, 12, n, n)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-4)
    assert result.tokens[:3] == ["[CLS]", "the", "keys"] and result.tokens[result.sentence_b_start] == "they"
    export = export_attention(result, tmp_path, layers=[0, 5], heads=[3])
    assert [tuple(a.shape) for a in load_export(tmp_path).attention] == [(1, 1, n, n)] * 2
    assert export.layers == [0, 5] and not export.warnings
    shutil.rmtree(tmp_path)


@pytest.mark.slow
def test_pages_stay_a_fifth_of_bertviz_own_and_inlining_adds_a_fixed_size(fake_scripts, tmp_path):
    """The figure in core/bertviz_export.py's docstring: 0.21x bertviz's head view for a 12-token sentence."""
    import torch
    from bertviz import head_view

    from tunelab.core.bertviz_export import inline_js

    result = attention_for(*load_attention_model("minilm-l6"), "The keys to the cabinet are on the table.")
    assert len(result.tokens) == 12
    own = len(head_view([torch.from_numpy(a)[None] for a in result.attentions], result.tokens,
                        html_action="return").data.encode())
    plain = export_attention(result, tmp_path / "plain")
    inlined = export_attention(result, tmp_path / "inlined", self_contained=True, scripts_dir=fake_scripts[0])
    size = os.path.getsize(plain.files["head_view"])
    assert 0.19 < size / own < 0.22, (size, own)
    scripts = sum(len(inline_js(text).encode()) for text in FAKE_JS.values())
    for name in ("head_view", "model_view"):
        added = os.path.getsize(inlined.files[name]) - os.path.getsize(plain.files[name])
        assert scripts < added < scripts + 600  # the scripts, their comments and the AMD names: nothing per token
