"""The masked-LM probe: k fillers per mask, most probable first; models without a masked-LM head are refused."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import build_tiny_bert
from tunelab.core.errors import TuneLabError
from tunelab.core.fill_mask import fill


def test_fill_returns_k_fillers_in_descending_probability(tiny_mlm):
    result = fill(str(tiny_mlm), "the cat sat on the [MASK] .", top_k=5)
    mask, = result.masks
    probs = [f.probability for f in mask.fillers]
    assert len(mask.fillers) == 5
    assert probs == sorted(probs, reverse=True)
    assert all(p > 0 for p in probs) and sum(probs) <= 1 + 1e-6
    assert result.mask_token == "[MASK]"
    assert "[MASK]" not in result.filled and result.filled.startswith("the cat sat on the ")


def test_every_mask_spelling_is_accepted_and_each_mask_is_filled(tiny_mlm):
    result = fill(str(tiny_mlm), "the [mask] sat on the <mask> near the [MASK] .", top_k=2)
    assert len(result.masks) == 3
    positions = [m.position for m in result.masks]
    assert positions == sorted(positions)
    assert all(len(m.fillers) == 2 for m in result.masks)


def test_text_without_a_mask_is_a_user_error(tiny_mlm):
    with pytest.raises(TuneLabError, match=r"no \[MASK\]"):
        fill(str(tiny_mlm), "the cat sat on the mat .")
    with pytest.raises(TuneLabError, match=r"no \[MASK\]"):
        fill(str(tiny_mlm), "")


def test_top_k_below_one_is_refused(tiny_mlm):
    with pytest.raises(TuneLabError, match="--top-k"):
        fill(str(tiny_mlm), "the [MASK] .", top_k=0)


def test_bare_encoder_has_no_masked_lm_head(tiny_bert):
    with pytest.raises(TuneLabError, match="no masked-LM head") as err:
        fill(str(tiny_bert), "the cat sat on the [MASK] .")
    assert "bert-base-uncased" in str(err.value)


def test_missing_head_is_found_even_without_architectures_in_the_config(tiny_bert, tmp_path):
    model = shutil.copytree(tiny_bert, tmp_path / "no-arch")
    config = json.loads((model / "config.json").read_text())
    config.pop("architectures", None)
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(TuneLabError, match="no masked-LM head"):
        fill(str(model), "the [MASK] .")


def test_fine_tuned_classifier_has_no_masked_lm_head(tmp_path):
    model = build_tiny_bert(tmp_path / "clf", num_labels=2)
    with pytest.raises(TuneLabError, match="no masked-LM head.*ForSequenceClassification"):
        fill(str(model), "the [MASK] .")


@pytest.mark.slow
def test_bundled_model_says_it_has_no_masked_lm_head():
    with pytest.raises(TuneLabError, match="'minilm-l6' has no masked-LM head"):
        fill("minilm-l6", "The cat sat on the [MASK].")
