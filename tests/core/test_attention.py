"""Attention extraction (core.attention) and the bertviz export (core.bertviz_export) on tiny random BERTs;
two slow tests run the bundled MiniLM."""

from __future__ import annotations

import json
import os
import shutil

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


def test_export_into_a_file_path_is_a_user_error(tiny, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(TuneLabError, match="taken"):
        export_attention(attention_for(*tiny, "the cat"), tmp_path / "taken")


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
