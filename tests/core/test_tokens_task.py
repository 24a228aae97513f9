"""classify_tokens: alignment of word tags to sub-words, per-word predictions, entity scores as seqeval computes
them, words cut by max_length, and the one-line refusals of data that is not token tags."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from conftest import write_jsonl
from tunelab.core.batching import collate, encode_task_split
from tunelab.core.data import load_task_data
from tunelab.core.equation import parse_equation
from tunelab.core.errors import TuneLabError
from tunelab.core.tasks.base import task_for
from tunelab.core.tasks.tokens import (encode_words, follows_scheme, per_type_scores, tag_order, tag_scores,
                                       word_predictions)

NER = "classify_tokens: ner_tags ~ tokens"
TAGS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
L2I = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


def _logits_for(encoded, pred_tags_per_example, n_tags=len(TAGS)):
    """Logits whose argmax at each word's first sub-word is the given tag (other sub-words: noise)."""
    rng = np.random.default_rng(0)
    out = []
    for wid, tags in zip(encoded.word_ids, pred_tags_per_example):
        logits = rng.normal(size=(len(wid), n_tags)).astype(np.float32)
        seen = set()
        for pos, w in enumerate(wid):
            if w >= 0 and w not in seen:
                seen.add(w)
                logits[pos] = 0
                logits[pos, L2I[tags[w]]] = 10
        out.append(logits)
    return out


# ---------------------------------------------------------------- the equation

def test_aliases_parse_and_two_inputs_are_refused():
    for word in ("ner", "pos_tagging", "token-classification", "token_classification", "classify_tokens"):
        assert parse_equation(f"{word}: ner_tags ~ tokens").task == "classify_tokens"
    with pytest.raises(TuneLabError, match="reads one input column") as err:
        parse_equation("classify_tokens: ner_tags ~ tokens + more")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- alignment

def test_first_subword_carries_the_tag_as_word_ids_say(tokenizer):
    words = [["the", "cabinetxy", "zzq", "dog"], ["keys", "near", "qqqq"]]
    tags = [["O", "B-LOC", "B-PER", "O"], ["B-PER", "O", "B-LOC"]]
    enc = encode_words(tokenizer, words, [np.array([L2I[t] for t in row]) for row in tags], max_length=32)
    for i, (w, t) in enumerate(zip(words, tags)):
        reference = tokenizer(w, is_split_into_words=True)
        wid = reference.word_ids()
        assert enc.input_ids[i].tolist() == reference["input_ids"]
        assert enc.word_ids[i].tolist() == [-1 if x is None else x for x in wid]
        assert any(wid.count(k) > 1 for k in range(len(w)))          # multi-piece words are in the test
        expected, previous = [], None
        for x in wid:
            expected.append(-100 if x is None or x == previous else L2I[t[x]])
            previous = x
        assert enc.labels[i].tolist() == expected
        assert enc.word_labels[i].tolist() == [L2I[x] for x in t]
    assert enc.words_cut == 0 and enc.word_counts.tolist() == [4, 3]


def test_label_all_tokens_gives_every_subword_the_tag_with_b_turned_i(tokenizer):
    words = [["zzq", "cabinetxy"]]
    enc = encode_words(tokenizer, words, [np.array([L2I["B-PER"], L2I["B-LOC"]])], max_length=32,
                       label_all_tokens=True, label2id=L2I)
    wid = enc.word_ids[0].tolist()
    labels = enc.labels[0].tolist()
    for pos, w in enumerate(wid):
        if w < 0:
            assert labels[pos] == -100
        elif wid.index(w) == pos:
            assert labels[pos] == L2I[("B-PER", "B-LOC")[w]]
        else:
            assert labels[pos] == L2I[("I-PER", "I-LOC")[w]]


def test_a_word_with_no_subword_keeps_its_place_as_the_unknown_token(tokenizer):
    words = [["the", "\x00", "cat", "\u200b", "dog", ""]]
    gold = ("O", "B-PER", "O", "B-LOC", "O", "B-LOC")
    tags = np.array([L2I[t] for t in gold])
    enc = encode_words(tokenizer, words, [tags], max_length=32)
    wid = enc.word_ids[0].tolist()
    assert sorted({w for w in wid if w >= 0}) == [0, 1, 2, 3, 4, 5]          # no word lost, none shifted
    for w in (1, 3, 5):
        assert enc.input_ids[0][wid.index(w)] == tokenizer.unk_token_id
    assert enc.labels[0][wid.index(1)] == L2I["B-PER"] and enc.labels[0][wid.index(2)] == L2I["O"]
    assert enc.words_cut == 0
    preds = word_predictions(_logits_for(enc, [gold]), enc)
    assert preds[0].tolist() == tags.tolist()


def test_collate_pads_tag_labels_with_minus_100(tokenizer):
    enc = encode_words(tokenizer, [["the", "cat"], ["a", "dog", "sat", "near", "the", "mat"]],
                       [np.array([0, 3]), np.array([0, 1, 0, 0, 0, 0])], max_length=32)
    batch = collate(enc, np.array([0, 1]), tokenizer.pad_token_id)
    assert batch["labels"].shape == batch["input_ids"].shape
    short = batch["labels"][0].tolist()
    assert short[enc.lengths[0]:] == [-100] * (batch["labels"].shape[1] - enc.lengths[0])


# ---------------------------------------------------------------- scores

CASES = [
    # an I- after O starts an entity (conlleval), adjacent entities of one type, an entity at the sentence end
    (["O", "I-PER", "I-PER", "O"], ["O", "B-PER", "I-PER", "O"]),
    (["B-PER", "B-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["O", "O", "B-LOC", "I-LOC"], ["O", "O", "B-LOC", "O"]),
    (["B-LOC", "O", "O", "B-PER"], ["B-PER", "O", "I-LOC", "B-PER"]),
]


def test_entity_scores_equal_seqeval_on_crafted_cases():
    from seqeval.metrics import f1_score, precision_score, recall_score

    gold = [g for g, _ in CASES]
    pred = [p for _, p in CASES]
    scores = tag_scores(gold, pred)
    assert scores["entity_precision"] == pytest.approx(precision_score(gold, pred))
    assert scores["entity_recall"] == pytest.approx(recall_score(gold, pred))
    assert scores["entity_f1"] == pytest.approx(f1_score(gold, pred))
    # by hand: gold entities PER(1-2) PER(0) PER(1) LOC(3) LOC(2-3) LOC(0) PER(3) = 7; predicted PER(1-2) PER(0-1)
    # LOC(3) LOC(2) PER(0) LOC(2) PER(3) = 7; right: PER(1-2), LOC(3), PER(3) = 3
    assert scores["entity_precision"] == pytest.approx(3 / 7) and scores["entity_recall"] == pytest.approx(3 / 7)
    assert scores["token_accuracy"] == pytest.approx(11 / 16)
    per_type = per_type_scores(gold, pred)
    assert set(per_type) == {"PER", "LOC"}
    assert per_type["LOC"]["support"] == 3 and per_type["PER"]["support"] == 4


def test_score_through_the_task_reads_each_words_first_subword(tokenizer):
    words = [["zzq", "cabinetxy", "the"], ["keys", "near", "qqqq"]]
    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-LOC"]]
    enc = encode_words(tokenizer, words, [np.array([L2I[t] for t in g]) for g in gold], max_length=32)
    scores = task_for("classify_tokens").score(_logits_for(enc, pred), enc, TAGS, "entity_f1")
    assert scores["entity_precision"] == pytest.approx(2 / 3) and scores["entity_recall"] == pytest.approx(2 / 3)
    assert scores["token_accuracy"] == pytest.approx(5 / 6)


def test_words_past_max_length_are_scored_as_missed(tokenizer):
    words = [["the", "cat", "sat", "on", "the", "mat", "near", "the", "big", "dog"]]
    gold = ["O"] * 8 + ["B-PER", "I-PER"]               # the entity lies past the cut
    enc = encode_words(tokenizer, words, [np.array([L2I[t] for t in gold])], max_length=8)
    assert enc.words_cut == 4 and enc.truncated == 1
    assert len(enc.word_labels[0]) == 10                # the cut words keep their gold tags
    preds = word_predictions(_logits_for(enc, [gold]), enc)
    assert preds[0].tolist()[6:] == [-1] * 4
    scores = task_for("classify_tokens").score(_logits_for(enc, [gold]), enc, TAGS, "entity_f1")
    assert scores["entity_recall"] == 0.0               # missed, never dropped
    assert scores["token_accuracy"] == pytest.approx(8 / 10)   # cut "O" words count as right, cut entity words not


def test_default_metric_and_tag_order():
    task = task_for("ner")
    assert task.default_metric(TAGS, "x", False) == "entity_f1"
    assert task.default_metric(("NN", "VB", "DT"), "x", False) == "token_accuracy"
    assert follows_scheme(("O", "B-X", "I-X")) and not follows_scheme(("O", "NN"))
    assert tag_order({"I-PER", "B-LOC", "O", "B-PER"}) == ("O", "B-LOC", "B-PER", "I-PER")
    assert tag_order({"10", "2", "0"}) == ("0", "2", "10")
    with pytest.raises(TuneLabError, match="does not apply"):
        task.check_metric("accuracy")
    with pytest.raises(TuneLabError, match="needs entity tags"):
        task.score([np.zeros((3, 2))], encode_words(_FakeTok(), [["a"]], [np.array([0])], max_length=8),
                   ("NN", "VB"), "entity_f1")


class _FakeTok:
    """Stands in for a tokenizer where the scoring path is what is tested."""

    unk_token = "[UNK]"
    is_fast = True

    def __call__(self, words, **kw):
        class Enc(dict):
            def word_ids(self, i):
                return [None, 0, None]
        return Enc(input_ids=[[1, 2, 3] for _ in words])


# ---------------------------------------------------------------- whole files through load_task_data

def _rows(words_and_tags):
    return [{"tokens": w, "ner_tags": t} for w, t in words_and_tags]


GOOD = [(["the", "cat", "sat"], ["O", "B-PER", "O"]), (["near", "keys"], ["O", "B-LOC"]),
        (["a", "dog", "ran"], ["O", "B-PER", "I-PER"])]


def _splits(tmp_path, train=GOOD, test=GOOD):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_jsonl(tmp_path / "train.jsonl", _rows(train))
    write_jsonl(tmp_path / "test.jsonl", _rows(test))
    return str(tmp_path)


def test_lists_and_gft_whitespace_strings_read_alike(tmp_path, tokenizer):
    as_lists = load_task_data(_splits(tmp_path / "a"), NER)
    gft = tmp_path / "gft"
    gft.mkdir()
    write_jsonl(gft / "train.jsonl", [{"tokens": " ".join(w), "ner_tags": " ".join(t)} for w, t in GOOD])
    as_strings = load_task_data(str(gft), NER)
    task = task_for(parse_equation(NER))
    assert as_lists.label_names == as_strings.label_names == ("O", "B-LOC", "B-PER", "I-PER")
    assert task.words(as_lists, "train") == task.words(as_strings, "train") == [w for w, _ in GOOD]
    assert task.tags(as_strings, "train") == [t for _, t in GOOD]
    l2i = {t: i for i, t in enumerate(as_lists.label_names)}
    enc = encode_task_split(as_strings, "train", tokenizer, 32, l2i)
    assert [x.tolist() for x in enc.word_labels] == [[l2i[t] for t in tags] for _, tags in GOOD]


def test_int_tags_are_read_as_their_names(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a", "b"], "ner_tags": [0, 3]}, {"tokens": ["c"], "ner_tags": [1]}])
    data = load_task_data(str(tmp_path / "train.jsonl"), NER, hold_out=False)
    assert data.label_names == ("0", "1", "3")
    assert task_for(parse_equation(NER)).default_metric(data.label_names, "", False) == "token_accuracy"


def _refusal(*args, **kwargs) -> str:
    with pytest.raises(TuneLabError) as err:
        load_task_data(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_tokens_and_tags_of_different_lengths_name_the_row(tmp_path):
    msg = _refusal(_splits(tmp_path, train=GOOD[:1] + [(["near", "keys"], ["O"])]), NER)
    assert "train.jsonl line 2" in msg and "2 words" in msg and "1 tags" in msg


def test_an_empty_sentence_is_refused(tmp_path):
    assert "empty sentence" in _refusal(_splits(tmp_path / "a", train=GOOD + [([], [])]), NER)
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": "the cat", "ner_tags": "O O"}, {"tokens": "   ", "ner_tags": ""}])
    msg = _refusal(str(tmp_path / "train.jsonl"), NER)
    assert "empty sentence" in msg and "line 2" in msg


def test_a_tag_column_that_is_neither_list_nor_string_is_refused(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a"], "ner_tags": {"x": 1}}])
    msg = _refusal(str(tmp_path / "train.jsonl"), NER)
    assert "ner_tags" in msg and "list of tags" in msg


def test_classify_tokens_on_a_label_per_row_says_use_classify(tmp_path):
    write_jsonl(tmp_path / "ints.jsonl", [{"sentence": "the cat sat", "label": 1}, {"sentence": "a dog", "label": 0}])
    assert "use classify: label ~ sentence" in _refusal(str(tmp_path / "ints.jsonl"), "ner: label ~ sentence")
    write_jsonl(tmp_path / "strings.jsonl", [{"sentence": "the cat sat", "label": "good"},
                                             {"sentence": "a dog", "label": "bad"}])
    assert "use classify: label ~ sentence" in _refusal(str(tmp_path / "strings.jsonl"), "ner: label ~ sentence")


def test_classify_on_list_columns_says_use_classify_tokens(tmp_path):
    data = _splits(tmp_path)
    assert "use classify_tokens: ner_tags ~ tokens" in _refusal(data, "classify: ner_tags ~ tokens")
    write_jsonl(tmp_path / "b.jsonl", [{"text": "the cat", "ner_tags": ["O", "B-PER"]}])
    assert "use classify_tokens: ner_tags ~ text" in _refusal(str(tmp_path / "b.jsonl"), "classify: ner_tags ~ text")


def test_a_tag_in_test_that_train_never_has_is_refused(tmp_path, tokenizer):
    data = load_task_data(_splits(tmp_path, test=[(["the", "cat"], ["O", "B-ORG"])]), NER)
    l2i = {t: i for i, t in enumerate(data.label_names)}
    train = encode_task_split(data, "train", tokenizer, 32, l2i)
    with pytest.raises(TuneLabError, match="'B-ORG'") as err:
        task_for(data).check_trainable(data, l2i, train)
    assert "train never has" in str(err.value)


def test_a_single_tag_is_not_trainable(tmp_path, tokenizer):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a", "b"], "ner_tags": ["O", "O"]}])
    data = load_task_data(str(tmp_path / "train.jsonl"), NER)
    train = encode_task_split(data, "train", tokenizer, 32, {"O": 0})
    with pytest.raises(TuneLabError, match="at least 2"):
        task_for(data).check_trainable(data, {"O": 0}, train)


def test_a_tag_the_model_lacks_is_named_when_encoding(tmp_path, tokenizer):
    data = load_task_data(_splits(tmp_path), NER)
    with pytest.raises(TuneLabError, match="'I-PER'.*not one of the model's tags"):
        encode_task_split(data, "train", tokenizer, 32, {"O": 0, "B-LOC": 1, "B-PER": 2})


# ---------------------------------------------------------------- a tiny token model, end to end without fit

def test_a_tiny_token_model_learns_the_tags_and_scores_per_word(tmp_path, tiny_bert, tokenizer):
    import torch
    from transformers import AutoModelForTokenClassification

    from tunelab.core.inference import count_broken, predict_outputs

    rows = [(["the", "cat", "sat", "near", "the", "mat"], ["O", "B-PER", "O", "O", "O", "B-LOC"]),
            (["a", "dog", "ran", "on", "the", "table"], ["O", "B-PER", "O", "O", "O", "B-LOC"]),
            (["the", "big", "cats", "sat"], ["O", "B-PER", "I-PER", "O"]),
            (["keys", "near", "the", "cabinet"], ["O", "O", "O", "B-LOC"])]
    data = load_task_data(_splits(tmp_path, train=rows, test=rows), NER, hold_out=False)
    task = task_for(data)
    l2i = {t: i for i, t in enumerate(data.label_names)}
    enc = encode_task_split(data, "train", tokenizer, 32, l2i)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, **task.model_kwargs(data.label_names))
    assert isinstance(model, task.head_class()._model_mapping[type(model.config)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = collate(enc, np.arange(len(enc)), tokenizer.pad_token_id)
    model.train()
    for _ in range(60):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    outputs = predict_outputs(model, enc, 3, "cpu", tokenizer.pad_token_id)
    assert isinstance(outputs, list) and [o.shape[0] for o in outputs] == enc.lengths.tolist()
    assert count_broken(outputs) == 0
    scores = task.score(outputs, enc, data.label_names, "entity_f1")
    assert scores["entity_f1"] == 1.0 and scores["token_accuracy"] == 1.0


def test_label_all_tokens_is_a_fit_setting_with_a_switch():
    import argparse

    from tunelab.cli import fit as fit_cli
    from tunelab.core.config import FitConfig

    parser = argparse.ArgumentParser()
    fit_cli.register(parser.add_subparsers())
    assert fit_cli.config_from_args(parser.parse_args(["fit", "--label-all-tokens"])).label_all_tokens is True
    assert fit_cli.config_from_args(parser.parse_args(["fit"])).label_all_tokens is False
    assert "--label-all-tokens" in FitConfig(label_all_tokens=True).to_argv()
    assert "--label-all-tokens" not in FitConfig().to_argv()
    assert FitConfig.from_dict({"label_all_tokens": True}).label_all_tokens is True
    with pytest.raises(TuneLabError, match="true or false"):
        FitConfig(label_all_tokens="yes").validate()


def test_gft_form_in_a_headerless_tsv_and_its_header_read_as_data(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("the cat sat\tO B-PER O\nnear keys\tO B-LOC\n")
    data = load_task_data(str(path), "ner: tags ~ text", columns=["text", "tags"], hold_out=False)
    assert task_for(data).tags(data, "train") == [["O", "B-PER", "O"], ["O", "B-LOC"]]
    path.write_text("text\ttags\nthe cat sat\tO B-PER O\n")
    assert "looks like a header row" in _refusal(str(path), "ner: tags ~ words", columns=["words", "tags"])


def test_a_slow_tokenizer_is_refused_in_one_line():
    slow = _FakeTok()
    slow.is_fast = False          # a Python tokenizer: no word_ids to align tags with
    with pytest.raises(TuneLabError, match="needs a fast tokenizer"):
        encode_words(slow, [["the", "cat"]], None, max_length=16)


def test_count_broken_reads_per_token_outputs_and_stacked_ones():
    from tunelab.core.inference import count_broken

    assert count_broken([np.ones((3, 2)), np.array([[np.nan, 0.0]]), np.zeros((1, 2))]) == 1
    assert count_broken(np.array([[0.0, np.inf], [1.0, 2.0]])) == 1


def test_word_probabilities_are_per_word_and_nan_for_cut_words(tokenizer):
    from tunelab.core.tasks.tokens import word_probabilities

    words = [["the", "cabinetxy", "sat", "on", "the", "mat", "near", "the", "big", "dog"]]
    gold = ["O", "B-LOC", "O", "O", "O", "O", "O", "O", "B-PER", "I-PER"]
    enc = encode_words(tokenizer, words, [np.array([L2I[t] for t in gold])], max_length=8)
    probs = word_probabilities(_logits_for(enc, [gold]), enc)[0]
    assert probs.shape == (10, len(TAGS))
    kept = 10 - enc.words_cut
    assert np.allclose(probs[:kept].sum(-1), 1.0) and np.isnan(probs[kept:]).all()
    assert probs[1].argmax() == L2I["B-LOC"]
