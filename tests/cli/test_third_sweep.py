"""The third sweep of user mistakes (new variants of the classes issue 7 named: broken files, odd data, numbers,
output, two processes): each case that misbehaved, as a user meets it through the CLI. Every one is one line and
exit 2, or a correct result; nothing is left half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import agreement_rows, write_jsonl, write_toy_splits
from sweep_support import one_line, trained_run
from tunelab.cli import main

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("sweep3"))


def fit_argv(trained, out, *more) -> list[str]:
    return ["fit", "--model", str(trained["base"]), "--data", str(trained["data"]), "--eqn", EQN, "--epochs", "1",
            "--out", str(out), *map(str, more)]


# ---------------------------------------------------------------- broken files

def test_models_lists_damaged_runs_instead_of_failing(trained, tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    damage = {"torn_metrics": ("metrics.json", b'{"figure_of_merit": "mcc", "valid'), "list_metrics": ("metrics.json", b"[]"),
              "null_metric": ("metrics.json", b'{"figure_of_merit": "mcc", "test": {"mcc": null}}'),
              "torn_run": ("run.json", b'{"config": {'), "binary_run": ("run.json", b"\xff\xfe")}
    for name, (file, content) in damage.items():
        shutil.copytree(trained["run"], runs / name)
        (runs / name / file).write_bytes(content)
    (runs / "starting").mkdir()
    shutil.copy(trained["run"] / "owner.json", runs / "starting" / "owner.json")   # a run before its run.json
    monkeypatch.chdir(tmp_path)
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m["detail"] for m in json.loads(capsys.readouterr().out) if m["source"] == "run"}
    assert set(damage) | {"starting"} <= set(listed)
    assert listed["torn_metrics"].endswith("metrics.json is damaged") and listed["list_metrics"].endswith("is damaged")
    assert listed["null_metric"] == "finished; classify: label ~ sentence"
    assert listed["torn_run"].startswith("broken: ") and listed["binary_run"].startswith("broken: ")
    assert listed["starting"] == "starting"


def _damaged_copy(source: Path, tmp_path: Path, edit) -> Path:
    model = tmp_path / "model"
    shutil.copytree(source, model)
    edit(model)
    return model


def _config_edit(**changes):
    def edit(model: Path) -> None:
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**config, **changes}))
    return edit


@pytest.mark.parametrize("edit, words", [
    (lambda m: ((m / "tokenizer.json").unlink(), (m / "vocab.txt").write_text("")),
     "the tokenizer of model .* could not be read from its files \\(vocab.txt, tokenizer_config.json\\): .*Missing \\[UNK\\]"),
    (lambda m: (m / "tokenizer.json").write_text('{"version": "1.0", "trunc'), "could not be read from its files \\(tokenizer.json"),
    (_config_edit(id2label={"x": "a", "y": "b"}), "its config.json is not what transformers expects: invalid literal"),
    (_config_edit(id2label={"0": "same", "1": "same"}, label2id={"same": 0}), "id2label names 'same' for more than one class"),
    (_config_edit(problem_type="regression"), "problem_type regression but the head has 2 outputs"),
])
def test_damaged_model_files_are_named(trained, tmp_path, capsys, edit, words):
    import re

    model = _damaged_copy(trained["run"] / "model", tmp_path, edit)
    err = one_line(capsys, main(["predict", "--model", str(model), "the cat is good ."]), "predict")
    assert re.search(words, err), err


# ---------------------------------------------------------------- odd data

def test_a_label_only_the_test_file_has_is_refused_before_anything_is_written(trained, tmp_path, capsys):
    data = write_toy_splits(tmp_path / "data")
    rows = agreement_rows(40, 3)
    rows[5]["label"] = "weird"
    write_jsonl(data / "test.jsonl", rows)
    err = one_line(capsys, main(fit_argv({**trained, "data": data}, tmp_path / "run")), "fit")
    assert "split 'test'" in err and "('weird')" in err and "train never has" in err
    assert not (tmp_path / "run").exists()


def test_a_validation_held_out_at_random_may_hold_a_rare_class(trained, tmp_path, capsys):
    rows = agreement_rows(200, 1) + [{"sentence": "the cat sat .", "label": f"rare{i}"} for i in range(12)]
    data = write_jsonl(tmp_path / "one.jsonl", rows)
    assert main(fit_argv({**trained, "data": data}, tmp_path / "run")) == 0


def test_early_stop_without_a_validation_split_is_refused(trained, tmp_path, capsys):
    data = write_jsonl(tmp_path / "three.jsonl", agreement_rows(3, 1) + [{"sentence": "a", "label": "unacceptable"},
                                                                         {"sentence": "b", "label": "acceptable"}])
    err = one_line(capsys, main(fit_argv({**trained, "data": data}, tmp_path / "run", "--early-stop", 1)), "fit")
    assert "--early-stop scores a validation split" in err and "fewer than 10 rows" in err
    assert not (tmp_path / "run").exists()


def test_cat_shows_class_label_names_even_when_splits_number_them_differently(tmp_path, capsys):
    from datasets import ClassLabel, Dataset, Features, Value

    for split, names in (("train", ["unacceptable", "acceptable"]), ("test", ["acceptable", "unacceptable"])):
        features = Features({"sentence": Value("string"), "label": ClassLabel(names=names)})
        Dataset.from_dict({"sentence": ["the cat is happy ."], "label": [names.index("acceptable")]},
                          features=features).to_parquet(str(tmp_path / f"{split}.parquet"))
    assert main(["cat", "--data", str(tmp_path), "--eqn", EQN]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert sorted(rows) == ["test\tacceptable\tthe cat is happy .", "train\tacceptable\tthe cat is happy ."]


# ---------------------------------------------------------------- numbers

@pytest.mark.parametrize("argv, verb, words", [
    (["heads", "--max-length", "-5"], "heads", "--max-length must be a whole number of at least 2 (got -5)"),
    (["attention-diff", "--max-length", "1"], "attention-diff", "--max-length must be a whole number of at least 2 (got 1)"),
])
def test_attention_statistics_check_max_length(trained, tmp_path, capsys, argv, verb, words):
    model = ["--model", str(trained["run"])] if verb == "heads" else ["--base", str(trained["base"]), "--tuned", str(trained["run"])]
    rc = main([*argv, *model, "--data", str(trained["data"]), "--eqn", EQN, "--out", str(tmp_path / "h.csv")])
    assert words in one_line(capsys, rc, verb)
    assert not (tmp_path / "h.csv").exists()


def test_a_fractional_warmup_step_count_is_refused(trained, tmp_path, capsys):
    err = one_line(capsys, main(fit_argv(trained, tmp_path / "run", "--warmup", "2.5")), "fit")
    assert "--warmup 2.5" in err and "must be whole" in err


# ---------------------------------------------------------------- output that cannot be written

def test_out_names_the_file_system_cannot_hold_are_one_line(trained, tmp_path, capsys):
    assert "File name too long" in one_line(capsys, main(fit_argv(trained, tmp_path / ("x" * 300))), "fit")
    assert "line break" in one_line(capsys, main(fit_argv(trained, tmp_path / "two\nlines")), "fit")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_export_over_a_folder_of_the_same_name_writes_nothing(trained, tmp_path, capsys):
    out = tmp_path / "att"
    (out / "tokens.json").mkdir(parents=True)
    err = one_line(capsys, main(["attention", "--model", str(trained["run"]), "the cat", "--out", str(out)]), "attention")
    assert "tokens.json there is a folder" in err
    assert [p.name for p in out.iterdir()] == ["tokens.json"]


# ---------------------------------------------------------------- a run directory over time

def _cut_run(trained, tmp_path, rows: int = 160) -> Path:
    """A run stopped at step 5 with a resumable checkpoint, on a copy of the data that can then be edited."""
    import threading

    from tunelab.core.config import FitConfig
    from tunelab.core.events import StepLogged
    from tunelab.core.fit import fit

    data = write_toy_splits(tmp_path / "data")
    stop = threading.Event()
    out = tmp_path / "run"
    fit(FitConfig(model=str(trained["base"]), data=str(data), eqn=EQN, out=str(out), epochs=3, batch_size=16,
                  log_seconds=0, warmup=0), stop=stop,
        on_event=lambda e: stop.set() if isinstance(e, StepLogged) and e.step == 5 else None)
    return out


def test_resuming_after_the_training_data_changed_is_refused(trained, tmp_path, capsys):
    run = _cut_run(trained, tmp_path)
    write_jsonl(tmp_path / "data" / "train.jsonl", agreement_rows(40, 1))
    err = one_line(capsys, main(["fit", "--resume", str(run)]), "fit")
    assert "train had 160 examples, now 40" in err


def test_a_run_that_died_before_its_first_checkpoint_starts_over_on_resume(trained, tmp_path, capsys):
    from tunelab.core.events import StepLogged, read_events

    run = _cut_run(trained, tmp_path)
    shutil.rmtree(run / "checkpoints")                 # as if killed (-9) before the first save
    before = [e.step for e in read_events(run / "events.jsonl") if isinstance(e, StepLogged)]
    assert main(["fit", "--resume", str(run)]) == 0
    steps = [e.step for e in read_events(run / "events.jsonl") if isinstance(e, StepLogged)]
    assert steps[0] == 1 and steps == sorted(steps) and steps[-1] == 30
    assert [e.step for e in read_events(run / "events.1.jsonl") if isinstance(e, StepLogged)] == before
    assert (run / "model" / "config.json").is_file()


def test_a_symlink_loop_and_an_empty_output_name_say_what_they_are(trained, tmp_path, capsys):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    err = one_line(capsys, main(["summary", "--data", str(tmp_path / "a.csv"), "--eqn", EQN]), "summary")
    assert "symbolic link that leads nowhere" in err
    source = tmp_path / "in.txt"
    source.write_text("the cat is good .\n")
    err = one_line(capsys, main(["predict", "--model", str(trained["run"]), "--input", str(source), "--output", ""]), "predict")
    assert "--output is empty" in err


# ---------------------------------------------------------------- the fourth sweep

def test_label_keys_with_a_gap_or_no_outputs_are_refused(trained, tmp_path, capsys):
    model = _damaged_copy(trained["run"] / "model", tmp_path, _config_edit(id2label={"0": "a", "2": "b"}, label2id={"a": 0, "b": 2}))
    err = one_line(capsys, main(["predict", "--model", str(model), "the cat"]), "predict")
    assert "id2label has keys [0, 2] for 2 outputs" in err


def test_classes_come_from_train_and_class_labels_cannot_regress(tmp_path, capsys):
    from datasets import ClassLabel, Dataset, Features, Value

    names = {"train": ["acceptable", "unacceptable", "extra"], "validation": ["unacceptable", "acceptable"]}
    for split, split_names in names.items():
        rows = agreement_rows(40, {"train": 1, "validation": 2}[split])
        features = Features({"sentence": Value("string"), "label": ClassLabel(names=split_names)})
        labels = [split_names.index(r["label"]) for r in rows]
        if split == "train":
            labels[:5] = [2] * 5                                    # train really uses its third class
        Dataset.from_dict({"sentence": [r["sentence"] for r in rows], "label": labels},
                          features=features).to_parquet(str(tmp_path / f"{split}.parquet"))
    from tunelab.core.data import load_task_data

    assert load_task_data(str(tmp_path), EQN).label_names == ("acceptable", "unacceptable", "extra")
    err = one_line(capsys, main(["summary", "--data", str(tmp_path), "--eqn", "regress: label ~ sentence"]), "summary")
    assert "holds classes (acceptable, unacceptable, extra); use 'classify:'" in err


def test_a_damaged_checkpoint_is_refused_not_started_over(trained, tmp_path, capsys):
    run = _cut_run(trained, tmp_path)
    shutil.rmtree(run / "checkpoints" / "last")
    (run / "checkpoints" / "last").write_text("not a folder")
    err = one_line(capsys, main(["fit", "--resume", str(run)]), "fit")
    assert "no whole checkpoint to resume from" in err
