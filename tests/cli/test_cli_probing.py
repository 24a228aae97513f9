"""`tunelab probe`, `tunelab fill` and `tunelab check` as a user runs them: output, --json, exit statuses."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import write_jsonl
from tunelab.cli import main

EQN = "classify: label ~ sentence"


def one_line_error(capsys, rc: int) -> str:
    out, err = capsys.readouterr()
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_check_prints_each_check_and_exits_0_when_nothing_fails(tiny_bert, capsys):
    assert main(["check", "--model", str(tiny_bert)]) == 0
    out = capsys.readouterr().out
    assert "randomly initialised" in out and "attention rows" in out and "overall" in out


def test_check_json_carries_status_checks_and_figures(tiny_bert, toy_data, capsys):
    rc = main(["check", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN, "--limit", "20", "--json"])
    report = json.loads(capsys.readouterr().out)
    status = {c["name"]: c["status"] for c in report["checks"]}
    names = list(status)
    assert names[0] == "loads" and names[-2:] == ["beats_baseline", "overfits_batch"]
    # a random encoder with a fresh head: it loads, runs and trains, and what it lacks is fine-tuning, which warns
    assert status["loads"] == status["probabilities"] == status["attention_rows"] == status["overfits_batch"] == "pass"
    assert status["label_mapping"] == status["beats_baseline"] == "warn"
    assert report["status"] == "warn" and rc == 0              # warnings exit 0: only a failed check exits 1
    assert report["figures"]["examples"] == 20


def test_check_exits_1_when_a_check_fails(tiny_bert, tmp_path, capsys):
    from transformers import AutoTokenizer

    model = shutil.copytree(tiny_bert, tmp_path / "mismatch")
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.add_tokens([f"word{i}" for i in range(10)])
    tokenizer.save_pretrained(model)
    assert main(["check", "--model", str(model)]) == 1
    assert "fail" in capsys.readouterr().out


def test_check_on_a_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    err = one_line_error(capsys, main(["check", "--model", str(tmp_path / "nowhere")]))
    assert "does not exist" in err


def test_fill_json_gives_k_fillers(tiny_mlm, capsys):
    assert main(["fill", "--model", str(tiny_mlm), "the cat sat on the [MASK] .", "--top-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    fillers = result["masks"][0]["fillers"]
    assert len(fillers) == 3
    assert [f["probability"] for f in fillers] == sorted((f["probability"] for f in fillers), reverse=True)


def test_fill_prints_a_table_per_mask(tiny_mlm, capsys):
    assert main(["fill", "--model", str(tiny_mlm), "the [MASK] sat on the [MASK] ."]) == 0
    out = capsys.readouterr().out
    assert "[MASK] 1 of 2" in out and "[MASK] 2 of 2" in out and "→" in out


def test_fill_without_a_mask_or_a_head_is_one_line_and_exit_2(tiny_mlm, tiny_bert, capsys):
    assert "no [MASK]" in one_line_error(capsys, main(["fill", "--model", str(tiny_mlm), "no mask here"]))
    assert "no masked-LM head" in one_line_error(capsys, main(["fill", "--model", str(tiny_bert), "the [MASK] ."]))


def test_probe_prints_a_row_per_layer_and_the_baseline(tiny_bert, toy_data, capsys):
    assert main(["probe", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN, "--limit", "60"]) == 0
    out = capsys.readouterr().out
    assert "majority baseline" in out and "emb" in out and "best: layer" in out


def test_probe_json_with_compare(tiny_bert, toy_data, capsys):
    rc = main(["probe", "--model", str(tiny_bert), "--compare", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN,
               "--limit", "60", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(report["curves"]) == 2
    assert [s["layer"] for s in report["curves"][0]["layers"]] == [0, 1, 2]
    assert report["train_examples"] == 60 and 0 < report["majority_accuracy"] < 1


def _token_splits(directory):
    """train/validation JSONL of sentences whose tags follow their words (cat/dog: B-ANI, mat/table: B-LOC)."""
    import random

    rng = random.Random(0)
    directory.mkdir()
    for split, n in (("train", 40), ("validation", 20)):
        rows = []
        for _ in range(n):
            words = [rng.choice(["the", "cat", "dog", "sat", "on", "mat", "table", "near"]) for _ in range(rng.randint(3, 7))]
            rows.append({"tokens": words, "ner_tags": ["B-ANI" if w in ("cat", "dog") else "B-LOC" if w in ("mat", "table")
                                                       else "O" for w in words]})
        write_jsonl(directory / f"{split}.jsonl", rows)
    return directory


def test_probe_of_a_token_task_prints_one_word_column_per_model(tiny_bert, tmp_path, capsys):
    data = _token_splits(tmp_path / "ner")
    rc = main(["probe", "--model", str(tiny_bert), "--compare", str(tiny_bert), "--data", str(data),
               "--eqn", "classify_tokens: ner_tags ~ tokens", "--limit", "30"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "words (each read at its first sub-word" in out and "always 'O'" in out and "best: layer" in out
    assert "[CLS]" not in out and "mean" not in out and out.count("word ") >= 2


def test_probe_json_of_a_token_task(tiny_bert, tmp_path, capsys):
    data = _token_splits(tmp_path / "ner")
    rc = main(["probe", "--model", str(tiny_bert), "--data", str(data), "--eqn", "ner: ner_tags ~ tokens", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["poolings"] == ["word"] and report["train_examples"] == 40
    assert report["train_words"] > 40 and report["majority_label"] == "O"
    assert [s["layer"] for s in report["curves"][0]["layers"]] == [0, 1, 2]
    assert all(0 <= s["word"] <= 1 and s["cls"] is None for s in report["curves"][0]["layers"])


def test_probe_of_a_regression_equation_is_one_line_and_exit_2(tiny_bert, tmp_path, capsys):
    write_jsonl(tmp_path / "train.jsonl", [{"sentence": f"the cat {i}", "score": float(i)} for i in range(20)])
    err = one_line_error(capsys, main(["probe", "--model", str(tiny_bert), "--data", str(tmp_path / "train.jsonl"),
                                       "--eqn", "regress: score ~ sentence"]))
    assert "classify" in err


@pytest.mark.slow
def test_fill_on_the_bundled_model_explains_it_has_no_masked_lm_head(capsys):
    err = one_line_error(capsys, main(["fill", "The cat sat on the [MASK]."]))
    assert "no masked-LM head" in err and "bert-base-uncased" in err
