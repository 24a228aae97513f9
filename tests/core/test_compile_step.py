"""--compile: the setting, the bounded batch widths, the clean fallback, plain checkpoint keys, and (slow) a compiled
step giving the eager loss. No timing is asserted."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tunelab.core import compile_step
from tunelab.core.batching import EncodedSplit, collate
from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.events import StepCompiled, StepLogged, read_events
from tunelab.core.fit import fit

EQN = "classify: label ~ sentence"


def config(model, data, out, **overrides):
    base = dict(model=str(model), data=str(data), eqn=EQN, out=str(out), epochs=2, lr=2e-3, batch_size=16, seed=3,
                warmup=0)
    return FitConfig(**{**base, **overrides})


# ---------------------------------------------------------------- the setting

def test_compile_is_a_setting_with_three_values_and_off_by_default():
    assert FitConfig().compile == "off"
    for value in ("auto", "on", "off"):
        FitConfig(compile=value).validate()
    with pytest.raises(TuneLabError, match=r"--compile must be one of auto, on, off, not 'yes'"):
        FitConfig(compile="yes").validate()
    assert FitConfig(compile="on").to_argv() == ["--compile", "on"]
    assert FitConfig.from_dict({"compile": "on"}).compile == "on"


def test_auto_compiles_only_on_cuda():
    assert compile_step.wants_compile("on", "cpu") and not compile_step.wants_compile("off", "cuda")
    assert not compile_step.wants_compile("auto", "cpu") and compile_step.wants_compile("auto", "cuda")


def test_the_cli_refuses_a_bad_compile_value_in_one_line(tiny_bert, toy_data, tmp_path, capsys):
    from tunelab.cli import main

    assert main(["fit", "--model", str(tiny_bert), "--data", str(toy_data), "--eqn", EQN, "--out", str(tmp_path / "r"),
                 "--compile", "maybe"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--compile must be one of auto, on, off" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "run.json").exists()


# ---------------------------------------------------------------- bounded shapes

def test_padded_width_rounds_up_to_the_multiple_but_not_beyond_the_limit():
    assert [compile_step.padded_width(w, 16) for w in (1, 16, 17, 33)] == [16, 16, 32, 48]
    assert compile_step.padded_width(13, 1) == 13
    assert compile_step.padded_width(121, 16, limit=128) == 128
    assert compile_step.padded_width(100, 16, limit=100) == 100     # max_length 100: never padded past it
    assert compile_step.padded_width(120, 16, limit=126) == 126


def test_collate_with_a_multiple_pads_masked_tokens_only():
    ids = [np.array([2, 5, 6, 3], dtype=np.int32), np.array([2, 7, 3], dtype=np.int32)]
    split = EncodedSplit(ids, None, np.array([1, 0]), np.array([4, 3]), 0)
    plain = collate(split, np.array([0, 1]), pad_id=0)
    rounded = collate(split, np.array([0, 1]), pad_id=0, multiple=8)
    assert plain["input_ids"].shape == (2, 4) and rounded["input_ids"].shape == (2, 8)
    assert torch.equal(rounded["input_ids"][:, :4], plain["input_ids"]) and not rounded["input_ids"][:, 4:].any()
    assert rounded["attention_mask"].sum() == plain["attention_mask"].sum() == 7
    # the widths a whole epoch meets: a handful, not one per distinct length
    lengths = np.random.default_rng(0).integers(3, 60, size=500)
    assert len({compile_step.padded_width(int(n), 16, 128) for n in lengths}) <= 4 < len(set(lengths.tolist()))


# ---------------------------------------------------------------- falling back

def _failing_compile(model):
    """A stand-in for torch.compile whose compiled model fails at its first call, as Inductor does without a C++
    compiler."""
    def compiled(**batch):
        raise RuntimeError("InductorError: CppCompileError: C++ compile error\nlong compiler output")
    compiled.parameters = model.parameters
    return compiled


def test_a_failing_compile_falls_back_to_eager_once_and_trains_as_eager_does(tiny_bert, toy_data, tmp_path,
                                                                              monkeypatch):
    import tunelab.core.fit as fit_module

    eager = fit(config(tiny_bert, toy_data, tmp_path / "eager"))
    monkeypatch.setattr(fit_module, "compile_model", _failing_compile)
    events = []
    result = fit(config(tiny_bert, toy_data, tmp_path / "fell", compile="on"), on_event=events.append)
    notes = [e for e in events if isinstance(e, StepCompiled)]
    assert len(notes) == 1 and notes[0].status == "fell_back" and notes[0].step == 1
    assert notes[0].reason == "RuntimeError: InductorError: CppCompileError: C++ compile error"
    assert result.status == "completed" and result.steps == eager.steps
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert len(losses) == result.steps                                  # no step lost or taken twice
    assert result.metrics["test"] == pytest.approx(eager.metrics["test"], abs=1e-6)   # the same run as eager
    assert json.loads((tmp_path / "fell" / "run.json").read_text())["config"]["compile"] == "on"
    assert [e for e in read_events(tmp_path / "fell" / "events.jsonl") if isinstance(e, StepCompiled)] == notes


def test_compile_unavailable_is_one_event_and_eager_training(tiny_bert, toy_data, tmp_path, monkeypatch):
    import tunelab.core.fit as fit_module

    def unavailable(model):
        raise RuntimeError("torch.compile is not supported on Python 3.14+")

    monkeypatch.setattr(fit_module, "compile_model", unavailable)
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", compile="on", epochs=1))
    notes = [e for e in read_events(tmp_path / "run" / "events.jsonl") if isinstance(e, StepCompiled)]
    assert [(n.status, n.reason) for n in notes] == [("fell_back", "RuntimeError: torch.compile is not supported "
                                                                    "on Python 3.14+")]
    assert result.status == "completed"


def test_the_fallback_line_the_cli_prints():
    from tunelab.cli.progress import compile_line

    line = compile_line(StepCompiled(1, "fell_back", "RuntimeError: no C++ compiler"))
    assert line == "--compile: could not compile the training step (RuntimeError: no C++ compiler); training goes on eagerly"


def test_an_error_that_is_not_the_compilers_still_fails_the_run(tiny_bert, toy_data, tmp_path, monkeypatch):
    """The eager retry shows a real error again (here: every forward fails), and it fails the run as before."""
    import tunelab.core.fit as fit_module

    monkeypatch.setattr(fit_module, "compile_model", _failing_compile)
    original = fit_module.Loop.take_step

    def broken(self, group, model, multiple=1):
        if model is self.model:
            raise ValueError("a real bug")
        return original(self, group, model, multiple)

    monkeypatch.setattr(fit_module.Loop, "take_step", broken)
    with pytest.raises(ValueError, match="a real bug"):
        fit(config(tiny_bert, toy_data, tmp_path / "run", compile="on", epochs=1))


# ---------------------------------------------------------------- really compiled (slow: Inductor builds C++ kernels)

def _inductor_works() -> bool:
    try:
        f = torch.compile(lambda x: torch.nn.functional.gelu(x) * 2)
        return bool(torch.isfinite(f(torch.ones(3))).all())
    except Exception:
        return False


@pytest.mark.slow
def test_a_compiled_run_gives_the_eager_losses_and_saves_plain_keys(tiny_bert, toy_data, tmp_path, monkeypatch):
    if not _inductor_works():
        pytest.skip("torch.compile (Inductor) does not work on this machine")
    from safetensors.torch import load_file

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    eager_events, compiled_events = [], []
    eager = fit(config(tiny_bert, toy_data, tmp_path / "eager", epochs=1), on_event=eager_events.append)
    compiled = fit(config(tiny_bert, toy_data, tmp_path / "compiled", epochs=1, compile="on", save_every="5"),
                   on_event=compiled_events.append)
    notes = [e for e in compiled_events if isinstance(e, StepCompiled)]
    assert [n.status for n in notes] == ["compiled"], notes
    eager_losses = [e.loss for e in eager_events if isinstance(e, StepLogged)]
    compiled_losses = [e.loss for e in compiled_events if isinstance(e, StepLogged)]
    # batches padded to a multiple of 16 (masked) and fused kernels: the same losses within float noise
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-3, abs=1e-4)
    assert compiled.metrics["test"]["accuracy"] == pytest.approx(eager.metrics["test"]["accuracy"], abs=0.03)
    keys = load_file(str(tmp_path / "compiled" / "model" / "model.safetensors")).keys()
    assert keys == load_file(str(tmp_path / "eager" / "model" / "model.safetensors")).keys()
    assert not any("_orig_mod" in k for k in keys)
    assert any(Path(tmp_path / "inductor").rglob("*"))                 # compiled artefacts cached for the next run


@pytest.mark.slow
def test_a_compiled_runs_checkpoint_has_plain_keys_and_resumes(tiny_bert, toy_data, tmp_path, monkeypatch):
    if not _inductor_works():
        pytest.skip("torch.compile (Inductor) does not work on this machine")
    import threading

    from safetensors.torch import load_file

    from tunelab.core import checkpoint as checkpoints

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    stop = threading.Event()

    def stop_at_step_4(event):
        if isinstance(event, StepLogged) and event.step >= 4:
            stop.set()

    run = tmp_path / "run"
    first = fit(config(tiny_bert, toy_data, run, compile="on", log_seconds=0), on_event=stop_at_step_4, stop=stop)
    assert first.status == "stopped"
    saved = load_file(str(run / "checkpoints" / "last" / checkpoints.MODEL)).keys()
    assert saved and not any("_orig_mod" in k for k in saved)
    resumed = fit(resume=str(run))
    assert resumed.status == "completed"


# ---------------------------------------------------------------- the benchmark's CoLA-shaped data

def _cola_like():
    path = Path(__file__).resolve().parents[2] / "bench" / "cola_like.py"
    spec = importlib.util.spec_from_file_location("cola_like", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cola_like_generator_is_deterministic_and_cola_shaped(tmp_path):
    cola_like = _cola_like()
    a = cola_like.write(tmp_path / "a")
    b = cola_like.write(tmp_path / "b")
    assert {s: p.read_bytes() for s, p in a.items()} == {s: p.read_bytes() for s, p in b.items()}
    other = cola_like.generate(seed=18, sizes={"train": 50})
    assert other["train"] != cola_like.generate(sizes={"train": 50})["train"]
    rows = {s: [json.loads(line) for line in p.read_text().splitlines()] for s, p in a.items()}
    assert {s: len(r) for s, r in rows.items()} == {"train": 8551, "validation": 1043, "test": 1063}
    words = np.array([len(r["sentence"].split()) for r in rows["train"]])
    assert words.min() >= 3 and words.max() <= 45 and 6 <= np.median(words) <= 10 and (words > 20).sum() > 100
    assert abs(np.mean([r["label"] for r in rows["train"]]) - 0.70) < 0.01
    assert set(rows["train"][0]) == {"sentence", "label"}
