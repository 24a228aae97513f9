"""Token-tagging mistakes a new user makes from the CLI, through every verb: one line, exit 2, nothing written
(no run directory left after a refused `fit`)."""

from __future__ import annotations

import pytest

from conftest import build_tiny_bert, write_toy_splits
from tunelab.cli import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("base"))


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_label_all_tokens_on_a_sentence_task_is_refused_before_any_run_directory(tmp_path, base, capsys):
    # before: accepted and silently ignored (one label per example has no sub-words to label)
    data = write_toy_splits(tmp_path / "cls")
    err = _refused(capsys, ["fit", "--model", str(base), "--data", str(data), "--eqn", "classify: label ~ sentence",
                            "--epochs", "1", "--label-all-tokens", "--out", str(tmp_path / "run")])
    assert "--label-all-tokens" in err and "classify" in err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, base):
    """A token run and a sentence run, each trained for a few steps (their heads are what matters here)."""
    from conftest import write_toy_ner_splits

    root = tmp_path_factory.mktemp("runs")
    ner, cls = write_toy_ner_splits(root / "ner"), write_toy_splits(root / "cls")
    for data, eqn, out in ((ner, "ner: ner_tags ~ tokens", "tok"), (cls, "classify: label ~ sentence", "sent")):
        assert main(["fit", "--model", str(base), "--data", str(data), "--eqn", eqn, "--epochs", "1", "--batch-size",
                     "32", "--warmup", "0", "--out", str(root / out)]) == 0
    return {"tok": str(root / "tok"), "sent": str(root / "sent"), "ner": str(ner), "cls": str(cls)}


@pytest.mark.parametrize("model, data, eqn, says", [
    ("tok", "cls", "classify: label ~ sentence", "the equation says classify but"),
    ("sent", "ner", "ner: ner_tags ~ tokens", "the equation says classify_tokens but")])
def test_check_of_a_model_on_data_of_another_task_names_the_heads(runs, capsys, model, data, eqn, says):
    # before: a failed "loads" check blaming the files: "classifier.bias is [5] in the weights but config.json asks
    # for [2] ...; the config and the weights belong to different models"
    err = _refused(capsys, ["check", "--model", runs[model], "--data", runs[data], "--eqn", eqn])
    assert says in err and "head" in err and "belong to different models" not in err


@pytest.mark.parametrize("kind", ["tok", "sent"])
@pytest.mark.parametrize("odd", [None, "", 0])
def test_a_model_whose_id2label_has_a_class_without_a_name_is_refused(runs, tmp_path, capsys, kind, odd):
    # before: predict crashed with a traceback inside rich (None or 0 as a tag), or printed a blank tag ("")
    import json
    import shutil

    model = shutil.copytree(f"{runs[kind]}/model", tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config["id2label"]["0"] = odd
    (model / "config.json").write_text(json.dumps(config))
    for verb in (["predict", "--model", str(model), "the big boy sat"], ["eval", "--model", str(model), "--data",
                 runs["ner" if kind == "tok" else "cls"], "--eqn",
                 "ner: ner_tags ~ tokens" if kind == "tok" else "classify: label ~ sentence"]):
        err = _refused(capsys, verb)
        assert f"id2label gives class 0 the name {json.dumps(odd)}, which is not text" in err


def test_eval_of_thousands_of_entity_types_shows_the_most_frequent(tmp_path, base, capsys):
    # before: the text view drew every type's row and column (3,000 types: it never finished drawing), and --json
    # crashed in sub_confusion (a token task with entities has no tag confusion) past 100 types
    import json

    from conftest import write_jsonl

    rows = [{"tokens": ["the", "boy"], "ner_tags": ["O", f"B-T{i % 150}"]} for i in range(300)]
    (tmp_path / "data").mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(tmp_path / "data" / f"{split}.jsonl", rows)
    assert main(["fit", "--model", str(base), "--data", str(tmp_path / "data"), "--eqn", "ner: ner_tags ~ tokens",
                 "--epochs", "1", "--batch-size", "64", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", str(tmp_path / "run"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["labels"]) >= 150 and len(r["entity_confusion"]) == len(r["entity_confusion_labels"]) == 101
    assert r["entity_confusion_labels"][-1] == "O" and "100 classes with the most examples" in r["confusion_note"]
    assert main(["eval", "--model", str(tmp_path / "run"), "--json", "--full-confusion"]) == 0
    assert len(json.loads(capsys.readouterr().out)["entity_confusion"]) == len(r["labels"]) + 1
    assert main(["eval", "--model", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    table = out.split("entity types (rows: gold")[1].split("more types")[0]
    assert "the 20 types with the most entities" in table and table.count("\n│") == 21      # 20 types and O


def test_summary_of_thousands_of_entity_types_names_the_most_frequent(tmp_path, base, capsys):
    # before: one line naming all 3,000 types (23,000 characters)
    from conftest import write_jsonl

    rows = [{"tokens": ["the", "boy"], "ner_tags": ["O", f"B-T{i}"]} for i in range(3000)]
    rows += [{"tokens": ["a", "girl"], "ner_tags": ["O", "B-ZZZ"]}] * 5
    write_jsonl(tmp_path / "train.jsonl", rows)
    assert main(["summary", "--data", str(tmp_path / "train.jsonl"), "--eqn", "ner: ner_tags ~ tokens", "--model",
                 str(base)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("train:"))
    assert "ZZZ 5" in line and " more types (--json for all)" in line and len(line) < 600


def test_predict_top_k_on_a_token_model_is_refused(runs, capsys):
    # before: accepted and silently ignored (a token model's answer is its words' tags, not a ranked class list)
    err = _refused(capsys, ["predict", "--model", runs["tok"], "--top-k", "3", "the big boy sat"])
    assert "--top-k" in err and "tags each word" in err
    assert main(["predict", "--model", runs["sent"], "--top-k", "1", "the cat is good ."]) == 0
    assert "1 more classes" in capsys.readouterr().out


def test_fit_with_an_entity_metric_on_tags_of_no_scheme_is_refused_before_any_run_directory(tmp_path, base, capsys):
    # before: refused at the first evaluation, after training had started and the run directory was written
    from conftest import write_jsonl

    (tmp_path / "pos").mkdir()
    for split in ("train", "validation"):
        write_jsonl(tmp_path / "pos" / f"{split}.jsonl", [{"tokens": ["the", "boy", "sat"], "pos": ["DT", "NN", "VBD"]}] * 8)
    err = _refused(capsys, ["fit", "--model", str(base), "--data", str(tmp_path / "pos"), "--eqn",
                            "pos_tagging: pos ~ tokens", "--metric", "entity_f1", "--epochs", "1", "--out",
                            str(tmp_path / "run")])
    assert "metric 'entity_f1' needs entity tags" in err and "token_accuracy" in err
    assert not (tmp_path / "run").exists()
