"""LoRA, --reinit-layers and --layer-lr-decay from the command line: a LoRA run fine-tuned with `tunelab fit` is
summarised with what it trained, predicts and evaluates like any run, and mistakes are one line and exit 2."""

import json

import pytest

from conftest import build_tiny_bert, write_toy_splits
from tunelab.cli import main

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def lora_cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-cli")
    base = build_tiny_bert(root / "base")
    data = write_toy_splits(root / "toy")
    argv = ["fit", "--model", str(base), "--data", str(data), "--eqn", EQN, "--out", str(root / "run"), "--epochs", "10",
            "--lr", "2e-2", "--batch-size", "16", "--warmup", "0", "--lora-r", "8", "--json"]
    assert main(argv) == 0
    return {"run": root / "run", "base": base, "data": data}


def test_summary_of_a_lora_run_says_how_it_was_trained(lora_cli_run, capsys):
    capsys.readouterr()
    assert main(["summary", "--model", str(lora_cli_run["run"]), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    tuned = summary["fine_tuning"]
    assert tuned["method"] == "LoRA r 8 (alpha 16)" and tuned["lora_targets"] == ["query", "value"]
    assert 0 < tuned["trainable"] < tuned["total"]
    assert main(["summary", "--model", str(lora_cli_run["run"])]) == 0
    out = " ".join(capsys.readouterr().out.split())
    share = f"{tuned['trainable'] / tuned['total']:.1%}"
    assert (f"fine-tuned: LoRA r 8 (alpha 16); {tuned['trainable']:,} of {tuned['total']:,} parameters trained "
            f"({share})") in out


def test_a_lora_run_predicts_and_evaluates_like_any_run(lora_cli_run, capsys):
    run = str(lora_cli_run["run"])
    capsys.readouterr()
    assert main(["predict", "--model", run, "the cats are happy .", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "acceptable"
    assert main(["eval", "--model", run, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] > 0.8


BAD = [
    (["--lora-r", "8", "--freeze-layers", "2"], "--lora-r 8 already freezes every pretrained weight"),
    (["--lora-r", "8", "--reinit-layers", "1"], "the re-initialised layers would stay random"),
    (["--reinit-layers", "3"], "--reinit-layers 3: the model has only 2 layers"),
    (["--lora-dropout", "0.2"], "--lora-dropout shapes LoRA adapters, but LoRA is off"),
    (["--lora-r", "8", "--lora-targets", "querry"], "the model has no module named 'querry'"),
    (["--layer-lr-decay", "1.5"], "--layer-lr-decay 1.5 is out of range: it must be above 0 and at most 1"),
    (["--lora-r", "x"], "'x' is not a whole number"),
]


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detach"])
@pytest.mark.parametrize("flags, fragment", BAD)
def test_adaptation_mistakes_are_one_line_and_exit_2(tmp_path, tiny_bert, flags, fragment, detach, capsys):
    data = write_toy_splits(tmp_path / "toy")
    argv = ["fit", "--model", str(tiny_bert), "--data", str(data), "--eqn", EQN, "--out", str(tmp_path / "run"), *flags]
    try:
        code = main(argv + (["--detach"] if detach else []))
    except SystemExit as exit:          # argparse's own refusal of a value that is not a number
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_summary_with_lora_r_counts_what_fit_lora_r_trains(lora_cli_run, capsys):
    """Before training: `summary --model BASE --lora-r 8` gives the trainable and total counts the LoRA run had."""
    recorded = json.loads((lora_cli_run["run"] / "run.json").read_text())["parameters"]
    capsys.readouterr()
    assert main(["summary", "--model", str(lora_cli_run["base"]), "--lora-r", "8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["trainable_parameters"], summary["total_parameters"]) == (recorded["trainable"], recorded["total"])
    rows = {r["name"]: r for r in summary["per_layer"]}
    assert rows["bert.embeddings"]["trainable"] == 0 and rows["classifier"]["trainable"] == rows["classifier"]["parameters"]
    assert 0 < rows["bert.encoder.layer.0"]["trainable"] < rows["bert.encoder.layer.0"]["parameters"]
    assert main(["summary", "--model", str(lora_cli_run["base"]), "--lora-r", "8", "--freeze-layers", "1"]) == 2
    assert "already freezes every pretrained weight" in capsys.readouterr().err
