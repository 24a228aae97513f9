"""What a user reads from `summary`, `eval`, `check` and `cat` (each run as the `tunelab` command) on data that
used to give silently wrong results: a -1/1 task, test inputs that are also train inputs, regression labels
beyond float32; and the one line the Data screen adds for the train overlap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import build_tiny_bert, write_jsonl

EQN = "classify: label ~ sentence"
WORDS = ("good happy", "bad sad")


def _rows(start, stop):
    """The label is -1 or 1 by a cue word, so a tiny model has something to learn; each text is distinct."""
    return [{"sentence": f"the cat {i} is {WORDS[i % 2].split()[i % 3 % 2]} .", "label": (1, -1)[i % 2]}
            for i in range(start, stop)]


def tunelab(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A -1/1 task whose test split shares 10 of its 30 inputs with train, and a tiny model fine-tuned on it."""
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("leaks")
    data = root / "leaky"
    data.mkdir()
    write_jsonl(data / "train.jsonl", _rows(0, 60))
    write_jsonl(data / "validation.jsonl", _rows(100, 110))
    write_jsonl(data / "test.jsonl", _rows(50, 80))             # 50..59 are train inputs too
    base = build_tiny_bert(root / "base")
    result = fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(root / "run"), epochs=1, lr=1e-3,
                           batch_size=16, warmup=0))
    return {"root": root, "data": data, "run": result.run_dir, "base": base}


def test_summary_prints_both_classes_and_the_test_inputs_also_in_train(leaky):
    done = tunelab("summary", "--data", leaky["data"], "--eqn", EQN, "--model", leaky["base"])
    assert done.returncode == 0, done.stderr
    assert "test: 10 of 30 inputs (33.3%) also occur in train" in done.stdout
    assert "validation: 0 of 10 inputs (0.0%) also occur in train" in done.stdout
    assert "-1: 30 (50%)" in done.stdout and "1: 30 (50%)" in done.stdout
    as_json = tunelab("summary", "--data", leaky["data"], "--eqn", EQN, "--model", leaky["base"], "--json")
    s = json.loads(as_json.stdout)
    assert s["in_train"] == {"test": 10, "validation": 0}
    assert s["label_balance"]["train"] == {"-1": 30, "1": 30}


def test_eval_on_the_run_says_how_many_scored_inputs_it_trained_on(leaky):
    done = tunelab("eval", "--model", leaky["run"], "--mistakes", "0")
    assert done.returncode == 0, done.stderr
    assert "test: 10 of 30 inputs (33.3%) also occur in the run's train split" in done.stdout
    r = json.loads(tunelab("eval", "--model", leaky["run"], "--json").stdout)
    assert r["labels"] == ["-1", "1"] and r["examples"] == 30
    assert r["in_train"] == 10 and r["train_data"] == "the run's train split"
    assert sum(map(sum, r["confusion"])) == 30


def test_eval_of_another_file_compares_with_the_run_s_training_data(leaky, tmp_path):
    other = write_jsonl(tmp_path / "other.jsonl", _rows(55, 65))            # 5 of them trained on
    done = tunelab("eval", "--model", leaky["run"], "--data", other, "--eqn", EQN, "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert (r["split"], r["examples"], r["in_train"]) == ("train", 10, 5)


def test_eval_says_nothing_of_overlap_when_the_run_s_data_is_gone(leaky, tmp_path):
    run = shutil.copytree(leaky["run"], tmp_path / "run")
    config = json.loads((run / "run.json").read_text(encoding="utf-8"))
    config["config"]["data"] = str(tmp_path / "moved-away")
    (run / "run.json").write_text(json.dumps(config), encoding="utf-8")
    done = tunelab("eval", "--model", run, "--data", leaky["data"], "--eqn", EQN, "--mistakes", "0")
    assert done.returncode == 0, done.stderr
    assert "also occur" not in done.stdout


def test_eval_of_a_run_on_one_file_counts_the_rows_fit_trained_on(tmp_path):
    """fit held a seeded 10% of the file out for validation: those rows were never trained on."""
    from tunelab.core.config import FitConfig
    from tunelab.core.evaluation import evaluate_model
    from tunelab.core.fit import fit

    data = write_jsonl(tmp_path / "one.jsonl", _rows(0, 40))
    base = build_tiny_bert(tmp_path / "base")
    run = fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(tmp_path / "run"), epochs=1,
                        batch_size=16, warmup=0)).run_dir
    report = evaluate_model(run, mistakes=0)                   # the whole file, as its only split
    assert (report.split, report.examples, report.in_train) == ("train", 40, 36)


def test_check_warns_of_the_leak_and_cat_prints_minus_one(leaky):
    done = tunelab("check", "--model", leaky["run"], "--data", leaky["data"], "--eqn", EQN, "--limit", "8", "--json")
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["train_overlap"]["status"] == "warn"
    assert "test: 10 of 30 inputs (33.3%) also occur in train" in checks["train_overlap"]["detail"]
    assert checks["label_mapping"]["status"] == "pass"
    cat = tunelab("cat", "--data", leaky["data"], "--eqn", EQN, "--split", "train", "--limit", "2")
    assert cat.returncode == 0 and cat.stdout.splitlines()[1:] == ["train\t1\tthe cat 0 is good .", "train\t-1\tthe cat 1 is sad ."]


def test_summary_of_regression_labels_beyond_float32_is_finite_strict_json(tmp_path):
    data = write_jsonl(tmp_path / "huge.jsonl", [{"sentence": f"text {i}", "score": (1e308, -1e308, 2.5)[i % 3]}
                                                 for i in range(30)])
    base = build_tiny_bert(tmp_path / "base")
    args = ("summary", "--data", data, "--eqn", "regress: score ~ sentence", "--model", base)
    as_json = tunelab(*args, "--json")
    assert as_json.returncode == 0, as_json.stderr

    def refuse(name):
        raise AssertionError(f"{name} in --json output")

    s = json.loads(as_json.stdout, parse_constant=refuse)
    assert s["label_balance"]["train"]["max"] == 1e308
    text = tunelab(*args)
    assert text.returncode == 0 and "nan" not in text.stdout.lower() and "inf " not in text.stdout
    assert "beyond float32's range" in " ".join(text.stdout.split())
    check = tunelab("check", "--model", base, "--data", data, "--eqn", "regress: score ~ sentence")
    assert check.returncode == 2 and "beyond float32's range" in check.stderr and len(check.stderr.splitlines()) == 1


# ---------------------------------------------------------------- the screens: one line each

def test_the_data_screen_shows_the_overlap_in_one_line(leaky):
    from tunelab.core.summary import summarize_data
    from tunelab.tui.screens.data import summary_text

    text = summary_text(summarize_data(str(leaky["data"]), EQN, model=str(leaky["base"]))).plain
    assert "in train: validation 0/10 · test 10/30" in text.splitlines()


def test_eval_and_check_of_a_minus_one_one_run_on_a_file_of_only_minus_one(leaky, tmp_path):
    """For a model trained on -1/1, a file whose every label is -1 is one class of it, not hidden labels."""
    only = write_jsonl(tmp_path / "negatives.jsonl", [r for r in _rows(200, 220) if r["label"] == -1])
    done = tunelab("eval", "--model", leaky["run"], "--data", only, "--eqn", EQN, "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["examples"] == 10 and sum(r["confusion"][0]) == 10 and sum(r["confusion"][1]) == 0
    checked = tunelab("check", "--model", leaky["run"], "--data", only, "--eqn", EQN, "--limit", "8", "--json")
    assert checked.returncode in (0, 1), checked.stderr
    assert {c["name"]: c for c in json.loads(checked.stdout)["checks"]}["label_mapping"]["status"] == "pass"


def test_cat_names_a_whole_number_label_as_its_class(tmp_path):
    data = tmp_path / "floats.csv"
    data.write_text("sentence,label\n" + "".join(f"text {i},{('1.0', '0', '1', '0.0')[i % 4]}\n" for i in range(12)),
                    encoding="utf-8")
    done = tunelab("cat", "--data", data, "--eqn", EQN, "--limit", "4")
    assert done.returncode == 0 and [line.split("\t")[1] for line in done.stdout.splitlines()[1:]] == ["1", "0", "1", "0"]
