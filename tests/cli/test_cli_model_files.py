"""Models TuneLab cannot use, and flags it cannot honour, as a user meets them through the real CLI: a truncated
model.safetensors, a decoder-only GPT-2, an unknown --metric, and probe's output on a task with many classes.
Each is one line on stderr with exit 2 (no traceback, no library text before it) and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import build_tiny_bert, write_jsonl, write_toy_splits

from tunelab.cli import main

EQN = "classify: label ~ sentence"


def tunelab(cwd: Path, *args, timeout=300):
    env = {**os.environ, "TUNELAB_HOME": str(cwd / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def one_line(proc, verb: str) -> str:
    """The whole of stderr: TuneLab's one line for `verb`, with exit status 2."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tunelab {verb}: error: "), proc.stderr[-2000:]
    return lines[0]


def truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------- a truncated model.safetensors

@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A run directory whose model/ has a truncated model.safetensors, a plain model directory with one, and data."""
    root = tmp_path_factory.mktemp("damaged")
    run_model = build_tiny_bert(root / "run" / "model", num_labels=2)
    plain = build_tiny_bert(root / "plain", num_labels=2)
    for model in (run_model, plain):
        truncate(model / "model.safetensors")
    return {"root": root, "run": root / "run", "plain": plain, "data": write_toy_splits(root / "toy")}


def damaged_message(line: str, file: Path) -> None:
    assert f"{file} is damaged or incomplete (SafetensorError: " in line and line.endswith("; re-save or re-train")


def test_eval_on_a_run_with_a_truncated_model_is_one_line(damaged):
    proc = tunelab(damaged["root"], "eval", "--model", damaged["run"], "--data", damaged["data"], "--eqn", EQN)
    damaged_message(one_line(proc, "eval"), damaged["run"] / "model" / "model.safetensors")


def test_predict_on_a_run_with_a_truncated_model_is_one_line(damaged):
    proc = tunelab(damaged["root"], "predict", "--model", damaged["run"], "the cat is happy .")
    damaged_message(one_line(proc, "predict"), damaged["run"] / "model" / "model.safetensors")
    assert proc.stdout == ""


def test_attention_on_a_truncated_model_is_one_line_and_writes_nothing(damaged):
    out = damaged["root"] / "attention-out"
    proc = tunelab(damaged["root"], "attention", "--model", damaged["plain"], "the cat is happy .", "--out", out)
    damaged_message(one_line(proc, "attention"), damaged["plain"] / "model.safetensors")
    assert not out.exists()


def test_summary_of_a_truncated_model_is_one_line(damaged):
    proc = tunelab(damaged["root"], "summary", "--model", damaged["plain"])
    damaged_message(one_line(proc, "summary"), damaged["plain"] / "model.safetensors")
    assert proc.stdout == ""                  # no parameter table for weights that cannot be read


def test_check_reports_a_truncated_model_as_a_failed_load(damaged, capsys):
    assert main(["check", "--model", str(damaged["plain"]), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["status"]) for c in report["checks"]] == [("loads", "fail")]
    damaged_message(report["checks"][0]["detail"], damaged["plain"] / "model.safetensors")


# ---------------------------------------------------------------- a decoder-only model (GPT-2)

def build_tiny_gpt2(path: Path) -> Path:
    """A random 2-layer GPT-2 with a byte-level BPE tokenizer trained here: like any GPT-2, no padding token."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the cat sat on the mat .", "the dogs were happy near the table ."] * 5, vocab_size=300,
                            min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False)
    end = "<|endoftext|>"
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=end, eos_token=end, unk_token=end)
    tokenizer.save_pretrained(path)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=len(tokenizer),
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(path)
    assert tokenizer.pad_token is None
    return path


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt2")
    return {"model": build_tiny_gpt2(root / "gpt2"), "data": write_toy_splits(root / "toy")}


def refuses_decoder(capsys, rc: int, verb: str) -> None:
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"tunelab {verb}: error: "), err
    assert "GPT2LMHeadModel" in err and "decoder-only" in err and "encoders only" in err and "BERT" in err


def test_fit_refuses_a_decoder_only_model_before_writing_anything(gpt2, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["fit", "--model", str(gpt2["model"]), "--data", str(gpt2["data"]), "--eqn", EQN, "--epochs", "1",
               "--out", str(out)])
    refuses_decoder(capsys, rc, "fit")
    assert not out.exists()


def test_check_refuses_a_decoder_only_model(gpt2, capsys):
    refuses_decoder(capsys, main(["check", "--model", str(gpt2["model"]), "--data", str(gpt2["data"]), "--eqn", EQN,
                                  "--limit", "20"]), "check")


def test_predict_refuses_a_decoder_only_model(gpt2, capsys):
    refuses_decoder(capsys, main(["predict", "--model", str(gpt2["model"]), "the cat sat on the mat ."]), "predict")


def test_summary_refuses_a_decoder_only_model(gpt2, capsys):
    refuses_decoder(capsys, main(["summary", "--model", str(gpt2["model"])]), "summary")


def test_probe_and_heads_refuse_a_decoder_only_model(gpt2, capsys):
    refuses_decoder(capsys, main(["probe", "--model", str(gpt2["model"]), "--data", str(gpt2["data"]), "--eqn", EQN]),
                    "probe")
    refuses_decoder(capsys, main(["heads", "--model", str(gpt2["model"]), "--data", str(gpt2["data"]), "--eqn", EQN]),
                    "heads")


# ---------------------------------------------------------------- fit --metric with a name nobody knows

def test_fit_with_an_unknown_metric_fails_before_anything_is_written(tmp_path):
    model, data = build_tiny_bert(tmp_path / "tiny"), write_toy_splits(tmp_path / "toy")
    out = tmp_path / "run"
    proc = tunelab(tmp_path, "fit", "--model", model, "--data", data, "--eqn", EQN, "--epochs", "1",
                   "--metric", "nosuch", "--out", out)
    line = one_line(proc, "fit")
    assert "unknown metric 'nosuch'; TuneLab knows accuracy, f1, macro_f1, mcc, pearson, spearman" in line
    assert "evaluate.load, which needs the network or a cached copy" in line
    assert not out.exists()                   # no run.json or events.jsonl: the same --out works once fixed


# ---------------------------------------------------------------- probe on a task with many classes

def test_probe_with_many_classes_prints_no_library_warnings(tmp_path):
    model = build_tiny_bert(tmp_path / "tiny")
    words = "the a cat dog is sat on mat big small red happy sad good bad".split()
    rows = [{"sentence": " ".join(words[(i * k) % len(words)] for k in (1, 3, 5, 7)), "label": f"class{i % 25}"}
            for i in range(40)]                 # 25 classes in 40 rows: scikit-learn would say "regression?"
    data = tmp_path / "many"
    data.mkdir()
    write_jsonl(data / "train.jsonl", rows)
    write_jsonl(data / "validation.jsonl", rows[:10])
    proc = tunelab(tmp_path, "probe", "--model", model, "--data", data, "--eqn", EQN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr[-2000:]
    assert "majority baseline" in proc.stdout and "best: layer" in proc.stdout


def test_weights_of_another_shape_than_the_config_name_the_tensor(tmp_path):
    """A config.json edited (or copied from another model) so that a tensor's shape differs from the weights:
    transformers' own text points at a load report that TuneLab silences; the line names the tensor instead."""
    model = build_tiny_bert(tmp_path / "model", num_labels=2)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "intermediate_size": 48}))
    line = one_line(tunelab(tmp_path, "predict", "--model", model, "the cat"), "predict")
    assert "is [64] in the weights but config.json asks for [48] (and 5 more)" in line
    assert "above report" not in line


# ---------------------------------------------------------------- one rule for how much of an input is read

@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A run directory trained (so its run.json says) with --max-length 16, over a model whose limit is 64."""
    root = tmp_path_factory.mktemp("short-run")
    data = write_toy_splits(root / "toy")
    run = root / "run"
    build_tiny_bert(run / "model", num_labels=2, max_positions=64)
    (run / "run.json").write_text(json.dumps({"config": {"max_length": 16, "data": str(data)}, "equation": EQN,
                                              "label_names": ["LABEL_0", "LABEL_1"]}))
    return {"root": root, "run": run, "data": data, "plain": build_tiny_bert(root / "plain", max_positions=64)}


LONG = " ".join(["the cat sat on the mat ."] * 6)      # 42 tokens: past 16, within 64


def test_every_verb_reads_a_runs_own_max_length_and_a_models_limit_otherwise(short_run):
    from tunelab.core.attention import attention_for, batch_attentions, load_attention_model
    from tunelab.core.predictor import Predictor

    predictor = Predictor(str(short_run["run"]), backend="torch")
    assert predictor.max_length == 16 and predictor.predict(LONG).truncated
    assert Predictor(str(short_run["run"] / "model"), backend="torch").max_length == 16   # the run's model, named
    plain = build_tiny_bert(short_run["root"] / "plain-classifier", num_labels=2, max_positions=64)
    assert Predictor(str(plain), backend="torch").max_length == 64                    # not a run: the model's limit
    model, tokenizer = load_attention_model(str(short_run["run"]))
    assert len(attention_for(model, tokenizer, LONG).tokens) == 16
    assert max(len(e.input_ids) for e in batch_attentions(model, tokenizer, [LONG, "the cat ."])) == 16
    model, tokenizer = load_attention_model(str(short_run["plain"]))
    assert len(attention_for(model, tokenizer, LONG).tokens) == 44          # the whole input: [CLS] 42 words [SEP]


def test_predict_json_says_a_long_input_was_cut_at_the_runs_length(short_run, capsys):
    assert main(["predict", "--model", str(short_run["run"]), "--json", LONG]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True


@pytest.mark.parametrize("verb", ["attention", "heads", "attention-diff", "predict"])
def test_a_max_length_beyond_the_models_limit_is_refused_by_every_verb(short_run, verb, capsys, tmp_path):
    data = ["--data", str(short_run["data"]), "--eqn", EQN]
    argv = {"attention": ["attention", "--model", str(short_run["plain"]), "the cat .", "--out", str(tmp_path / "o")],
            "heads": ["heads", "--model", str(short_run["plain"]), *data, "--out", str(tmp_path / "h.csv")],
            "attention-diff": ["attention-diff", "--base", str(short_run["plain"]), "--tuned", str(short_run["run"]),
                               *data],
            "predict": ["predict", "--model", str(short_run["run"]), "the cat ."]}[verb]
    assert main([*argv, "--max-length", "100"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert "--max-length 100 is beyond" in err and "limit of 64 tokens" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "h.csv").exists()
