"""Numbers that must never go silently wrong in a run: a NaN or infinite loss fails the run (never "completed"),
regression labels must fit float32, a warm-up longer than the run is refused, and every JSON TuneLab writes is
strict (no NaN, no Infinity)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import write_jsonl
from tunelab.cli import main
from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.events import EvalDone, RunFailed, RunFinished, StepLogged, event_to_json, read_events
from tunelab.core.fit import fit
from tunelab.core.run_status import run_info

EQN = "classify: label ~ sentence"


def _strict(text: str):
    """Parse as strict JSON: NaN, Infinity and -Infinity are refused."""
    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def _error_line(capsys, rc: int) -> str:
    """The error fit ends with: exit 2 and one line (after the progress lines a run shows on stderr)."""
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tunelab fit: error: ") and err.count("error:") == 1, err
    return last


def _assert_failed_not_completed(run, fragment: str) -> None:
    for line in (run / "events.jsonl").read_text().splitlines():
        _strict(line)
    events = list(read_events(run / "events.jsonl"))
    assert not any(isinstance(e, RunFinished) for e in events)
    failed = [e for e in events if isinstance(e, RunFailed)]
    assert len(failed) == 1 and fragment in failed[0].error
    assert all(math.isfinite(e.loss) for e in events if isinstance(e, StepLogged))
    assert not (run / "model").exists() and not (run / "metrics.json").exists()
    assert run_info(run).status.value == "failed"


@pytest.fixture
def poison(monkeypatch):
    """poison(n): the n-th training forward pass returns a NaN loss (as a diverging run would)."""
    from tunelab.core import fit as fit_module

    install, calls = fit_module.cls_shortcut.install, {"n": 0}

    def arm(at_step: int) -> None:
        def install_poisoned(model):
            install(model)
            forward = model.forward

            def poisoned(*args, **kwargs):
                out = forward(*args, **kwargs)
                if model.training:
                    calls["n"] += 1
                    if calls["n"] == at_step:
                        out.loss = out.loss * float("nan")
                return out
            model.forward = poisoned

        monkeypatch.setattr(fit_module.cls_shortcut, "install", install_poisoned)
    return arm


def test_a_nan_loss_fails_the_run_in_one_line_naming_the_learning_rate(tiny_bert, toy_data, tmp_path, capsys, poison):
    poison(5)
    run = tmp_path / "run"
    rc = main(["fit", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN, "--epochs", "2",
               "--lr", "0.5", "--out", str(run)])
    err = _error_line(capsys, rc)
    assert "the loss became NaN at step 5" in err and "--lr 0.5 is probably too high" in err
    _assert_failed_not_completed(run, "--lr 0.5")


def test_a_nan_in_the_last_step_still_fails_the_run(tiny_bert, toy_data, tmp_path, poison):
    """The loss is checked when the pending steps are flushed: the run's last flush counts too."""
    poison(20)                                                  # the last of 2 epochs x 10 steps
    run = tmp_path / "run"
    with pytest.raises(TuneLabError, match="the loss became NaN at step 20"):
        fit(FitConfig(model=str(tiny_bert), data=str(toy_data), eqn=EQN, out=str(run), epochs=2, batch_size=16))
    _assert_failed_not_completed(run, "step 20")
    assert [e.step for e in read_events(run / "events.jsonl") if isinstance(e, StepLogged)] == list(range(1, 20))


def _regression_data(tmp_path, big: float):
    rows = [{"a": "the cat is happy ." if i % 2 else "the dog is sad .", "score": big if i == 6 else float(i % 5)}
            for i in range(40)]
    d = tmp_path / "reg"
    d.mkdir()
    write_jsonl(d / "train.jsonl", rows)
    write_jsonl(d / "validation.jsonl", rows[:10])
    return d


def test_regression_labels_beyond_float32_are_refused_naming_the_row(tiny_bert, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["fit", "--model", str(tiny_bert), "--data", str(_regression_data(tmp_path, -1e308)),
               "--eqn", "regress: score ~ a", "--out", str(run)])
    err = _error_line(capsys, rc)
    assert "row 7 of split 'train'" in err and "label -1e+308 is beyond the range of float32" in err
    assert not run.exists()


def test_regression_labels_too_large_for_the_loss_fail_the_run_naming_them(tiny_bert, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["fit", "--model", str(tiny_bert), "--data", str(_regression_data(tmp_path, 1e30)),
               "--eqn", "regress: score ~ a", "--epochs", "1", "--out", str(run)])
    err = _error_line(capsys, rc)
    assert "the regression labels reach 1e+30" in err and "rescale them" in err
    _assert_failed_not_completed(run, "regression labels reach")


@pytest.mark.parametrize("detach", [False, True])
def test_a_warmup_longer_than_the_run_is_refused_before_anything_is_written(tiny_bert, toy_data, tmp_path, capsys, detach):
    run = tmp_path / "run"
    rc = main(["fit", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN, "--epochs", "0.4",
               "--batch-size", "16", "--warmup", "1000", "--out", str(run), *(["--detach"] if detach else [])])
    err = _error_line(capsys, rc)
    assert "--warmup 1000 steps is longer than the run, which takes 4 steps" in err and "--warmup 4" in err
    assert not run.exists()


def test_a_warmup_share_or_a_count_within_the_run_trains(tiny_bert, toy_data, tmp_path):
    for name, warmup in (("share", 0.9), ("count", 4)):
        result = fit(FitConfig(model=str(tiny_bert), data=str(toy_data), eqn=EQN, out=str(tmp_path / name),
                               epochs=0.4, batch_size=16, warmup=warmup, eval_every=0))
        assert result.status == "completed" and result.steps == 4


def test_json_tunelab_writes_is_strict(tmp_path):
    from tunelab.core.atomic_write import write_json_atomic

    write_json_atomic(tmp_path / "m.json", {"test": {"pearson": float("nan"), "mse": float("inf")}, "n": [1.5, -math.inf]})
    assert _strict((tmp_path / "m.json").read_text()) == {"test": {"pearson": None, "mse": None}, "n": [1.5, None]}
    line = event_to_json(EvalDone(3, 1.0, "validation", {"pearson": float("nan"), "mse": 2.0}, "pearson", False))
    assert _strict(line)["metrics"] == {"pearson": None, "mse": 2.0}


def test_a_run_begun_with_a_long_warmup_before_the_check_still_resumes(tiny_bert, toy_data, tmp_path):
    """The plan is fixed when a run begins; a resume keeps it rather than stranding the run."""
    import threading

    stop = threading.Event()
    run = tmp_path / "run"
    fit(FitConfig(model=str(tiny_bert), data=str(toy_data), eqn=EQN, out=str(run), epochs=0.4, batch_size=16,
                  warmup=4, log_seconds=0),
        stop=stop, on_event=lambda e: stop.set() if isinstance(e, StepLogged) and e.step == 2 else None)
    saved = json.loads((run / "run.json").read_text())
    saved["config"]["warmup"] = 1000                    # as an older TuneLab let it begin
    (run / "run.json").write_text(json.dumps(saved))
    assert fit(resume=str(run)).status == "completed"
