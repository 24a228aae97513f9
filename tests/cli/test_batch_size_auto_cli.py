"""`tunelab fit --batch-size auto` through the command line: the flag parses, round-trips through FitConfig.to_argv,
runs, and says what it chose; a word other than auto is one line; scoring verbs take numbers only."""

import json

import pytest

from tunelab.cli import build_parser, main
from tunelab.cli.fit import config_from_args
from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError

EQN = "classify: label ~ sentence"


def parsed(*argv):
    return config_from_args(build_parser().parse_args(["fit", *argv]))


def test_batch_size_auto_parses_and_round_trips_through_to_argv():
    config = parsed("--batch-size", "Auto", "--grad-accum", "2")
    assert config.batch_size == "auto" and config.grad_accum == 2
    config.validate()
    assert config.to_argv() == ["--batch-size", "auto", "--grad-accum", "2"]
    assert parsed(*config.to_argv()) == config
    assert FitConfig.from_dict(json.loads(config.to_json())) == config      # as run.json keeps it


def test_a_word_other_than_auto_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["fit", "--batch-size", "big"])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "'big' is not a whole number or auto" in err and "\n" not in err
    with pytest.raises(TuneLabError, match=r"^--batch-size must be a number or auto, not 'big'$"):
        FitConfig(batch_size="big").validate()


def test_scoring_takes_a_number_only():
    from tunelab.core.predictor import BATCH_SIZE, check_setting

    with pytest.raises(TuneLabError, match=r"^--batch-size must be a number, not 'auto'$"):
        check_setting(BATCH_SIZE, "auto")


def test_fit_batch_size_auto_runs_and_says_what_it_chose(tmp_path, capsys):
    from conftest import build_tiny_bert, write_toy_splits

    model = build_tiny_bert(tmp_path / "model")
    data = write_toy_splits(tmp_path / "toy")
    assert main(["fit", "--model", str(model), "--data", str(data), "--eqn", EQN, "--epochs", "1", "--lr", "2e-3",
                 "--batch-size", "auto", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "--batch-size auto: micro-batch 32 x 1 accumulated = 32 per optimizer step" in err   # a CPU: 32 fits
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["batch_size"] == "auto"
    assert run["batch"]["micro_batch"] == 32 and run["batch"]["grad_accum"] == 1 and run["batch"]["auto"] is True
