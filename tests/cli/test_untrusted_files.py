"""Files from elsewhere never run code: a model directory that ships Python (an auto_map to its own
configuration_*.py / modeling_*.py / tokenization_*.py), a pytorch_model.bin holding a pickle payload. Each payload
touches a marker file when it runs; every verb that loads a model is run on it, with "y" piped to stdin (the
answer transformers' own "run the custom code? [y/N]" prompt would take), and the marker must never appear.
The model is refused in one line on stderr, exit 2, with nothing on stdout, unless the user passes
--trust-remote-code."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import build_tiny_bert, write_toy_splits

EQN = "classify: label ~ sentence"
MARKER = "ran-the-payload"

# a configuration class and model classes that work (BERT's, renamed), and that touch the marker when imported
CONFIGURATION = '''
import pathlib
pathlib.Path({marker!r}).touch()
from transformers import BertConfig


class EvilConfig(BertConfig):
    model_type = "evil_bert"
'''
MODELING = '''
import pathlib
pathlib.Path({marker!r}).touch()
from transformers import BertForMaskedLM, BertForSequenceClassification, BertModel
from .configuration_evil import EvilConfig


class EvilModel(BertModel):
    config_class = EvilConfig


class EvilForSequenceClassification(BertForSequenceClassification):
    config_class = EvilConfig


class EvilForMaskedLM(BertForMaskedLM):
    config_class = EvilConfig
'''
TOKENIZATION = '''
import pathlib
pathlib.Path({marker!r}).touch()
from transformers import BertTokenizerFast


class EvilTokenizer(BertTokenizerFast):
    pass
'''
AUTO_MAP = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel",
            "AutoModelForSequenceClassification": "modeling_evil.EvilForSequenceClassification",
            "AutoModelForMaskedLM": "modeling_evil.EvilForMaskedLM"}


def plant_code(model: Path, marker: Path, *, model_type: str = "evil_bert", where: str = "config") -> Path:
    """Make `model` ship its own code: an auto_map in config.json (with `model_type`) or in tokenizer_config.json."""
    for name, text in (("configuration_evil.py", CONFIGURATION), ("modeling_evil.py", MODELING),
                       ("tokenization_evil.py", TOKENIZATION)):
        (model / name).write_text(text.format(marker=str(marker)))
    if where == "config":
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**config, "model_type": model_type, "auto_map": AUTO_MAP}))
    else:
        tok = json.loads((model / "tokenizer_config.json").read_text())
        tok["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", "tokenization_evil.EvilTokenizer"]}
        (model / "tokenizer_config.json").write_text(json.dumps(tok))
    return model


def tunelab(cwd: Path, *args, stdin: str = "y\ny\ny\ny\ny\ny\n", timeout=300):
    env = {**os.environ, "TUNELAB_HOME": str(cwd / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env=env, cwd=cwd)


class Ran:
    """What a verb run in this process left: its exit status, stdout and stderr."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def in_process(capsys, monkeypatch, *args) -> Ran:
    """`tunelab ARGS` in this process with 'y' lines on stdin (what transformers' prompt would read)."""
    import io

    from tunelab.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 10))
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return Ran(rc, out, err)


def refused(proc, verb: str, marker: Path) -> str:
    assert not marker.exists(), f"{verb} ran the model's code: {proc.stderr[-1500:]}"
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == "", proc.stdout[-1000:]              # no prompt, no half a JSON document
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tunelab {verb}: error: "), proc.stderr[-2000:]
    assert "needs remote code" in lines[0] and "--trust-remote-code" in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A classifier, a masked-LM and a bare encoder, each shipping code, a run directory whose model does, and data."""
    root = tmp_path_factory.mktemp("planted")
    marker = root / MARKER
    models = {
        "classifier": plant_code(build_tiny_bert(root / "classifier", num_labels=2), marker),
        "mlm": plant_code(build_tiny_bert(root / "mlm", mlm=True), marker),
        "encoder": plant_code(build_tiny_bert(root / "encoder"), marker),
        "known-type": plant_code(build_tiny_bert(root / "known", num_labels=2), marker, model_type="bert"),
        "tokenizer": plant_code(build_tiny_bert(root / "tokenizer", num_labels=2), marker, where="tokenizer"),
    }
    build_tiny_bert(root / "plain")
    run = root / "run"
    plant_code(build_tiny_bert(run / "model", num_labels=2), marker)
    (run / "run.json").write_text(json.dumps({"equation": EQN, "config": {"data": str(root / "toy")}}))
    return {"root": root, "marker": marker, "run": run, "data": write_toy_splits(root / "toy"), **models}


def verbs(p: dict, model: Path) -> list[tuple[str, list]]:
    data = ["--data", p["data"], "--eqn", EQN]
    plain = p["root"] / "plain"
    return [
        ("predict", ["predict", "--model", model, "--json", "the cat sat ."]),
        ("predict", ["predict", "--model", model, "--input", "-"]),
        ("eval", ["eval", "--model", model, *data]),
        ("attention", ["attention", "--model", model, "the cat sat .", "--out", p["root"] / "att-out"]),
        ("heads", ["heads", "--model", model, *data, "--out", p["root"] / "heads.csv"]),
        ("attention-diff", ["attention-diff", "--base", plain, "--tuned", model, *data]),
        ("attention-diff", ["attention-diff", "--base", model, "--tuned", plain, *data]),
        ("fill", ["fill", "--model", model, "the cat sat on the [MASK] ."]),
        ("probe", ["probe", "--model", model, *data, "--limit", "20"]),
        ("probe", ["probe", "--model", plain, "--compare", model, *data, "--limit", "20"]),
        ("check", ["check", "--model", model]),
        ("summary", ["summary", "--model", model]),
        ("summary", ["summary", "--model", model, *data]),
        ("fit", ["fit", "--model", model, *data, "--epochs", "1", "--out", p["root"] / "fit-out"]),
    ]


@pytest.mark.parametrize("kind", ["classifier", "known-type", "tokenizer"])
def test_no_verb_runs_code_that_a_model_directory_ships(planted, kind, capsys, monkeypatch):
    """Every verb that loads a model, on a model whose config.json (unknown or known model_type) or
    tokenizer_config.json maps Auto classes to its own Python files, with 'y' on stdin."""
    monkeypatch.chdir(planted["root"])
    for verb, argv in verbs(planted, planted[kind]):
        refused(in_process(capsys, monkeypatch, *argv), verb, planted["marker"])
    assert not (planted["root"] / "fit-out").exists() and not (planted["root"] / "att-out").exists()


def test_a_real_stdin_answering_yes_is_never_read(planted):
    """The issue's own case, as a separate process: `printf 'y\\ny\\n' | tunelab predict --json`, and a detached fit."""
    refused(tunelab(planted["root"], "predict", "--model", planted["classifier"], "--json", "the cat ."), "predict",
            planted["marker"])
    out = planted["root"] / "detached"
    refused(tunelab(planted["root"], "fit", "--model", planted["classifier"], "--data", planted["data"], "--eqn", EQN,
                    "--epochs", "1", "--out", out, "--detach"), "fit", planted["marker"])
    assert not out.exists()


def test_a_config_naming_a_hub_attention_kernel_is_refused(tmp_path, capsys, monkeypatch):
    """config.json's attn_implementation may name a hub repo of compiled kernels, which transformers would load for
    the verbs that do not choose the attention themselves (probe, fill): that is remote code too."""
    model = build_tiny_bert(tmp_path / "kernel", mlm=True)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "attn_implementation": "kernels-community/evil"}))
    data = write_toy_splits(tmp_path / "toy")
    for argv in (["fill", "--model", model, "the [MASK] sat ."], ["probe", "--model", model, "--data", data, "--eqn",
                                                                   EQN, "--limit", "20"]):
        line = refused(in_process(capsys, monkeypatch, *argv), argv[0], tmp_path / MARKER)
        assert "kernels-community/evil" in line


def test_a_run_directory_whose_model_ships_code_is_refused(planted, capsys, monkeypatch):
    for argv in (["predict", "--model", planted["run"], "the cat ."], ["eval", "--model", planted["run"]]):
        refused(in_process(capsys, monkeypatch, *argv), argv[0], planted["marker"])


def test_the_masked_lm_and_bare_encoder_verbs_refuse_too(planted, capsys, monkeypatch):
    refused(in_process(capsys, monkeypatch, "fill", "--model", planted["mlm"], "the [MASK] sat ."), "fill",
            planted["marker"])
    refused(in_process(capsys, monkeypatch, "attention", "--model", planted["encoder"], "the cat .", "--out",
                       planted["root"] / "o"), "attention", planted["marker"])


def test_the_python_api_refuses_without_asking(planted, monkeypatch):
    """Predictor and the engine's loaders, called from a notebook: no prompt reads stdin, the code does not run."""
    import io

    from tunelab.core.errors import TuneLabError
    from tunelab.core.models import ResolvedModel, load_config, load_tokenizer
    from tunelab.core.predictor import Predictor

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 10))
    with pytest.raises(TuneLabError, match="needs remote code"):
        Predictor(str(planted["classifier"]))
    # past resolve_model's check, transformers itself is told no (and asks nothing)
    sneaked = ResolvedModel(str(planted["classifier"]), "sneaked", True)
    with pytest.raises(TuneLabError, match="needs remote code"):
        load_config(sneaked)
    with pytest.raises(TuneLabError, match="needs remote code"):
        load_tokenizer(ResolvedModel(str(planted["tokenizer"]), "sneaked", True))
    assert not planted["marker"].exists()


def test_trust_remote_code_is_an_explicit_opt_in(tmp_path):
    """With --trust-remote-code the model's own code runs (that is what the flag is for), and its answer comes out."""
    marker = tmp_path / MARKER
    model = plant_code(build_tiny_bert(tmp_path / "classifier", num_labels=2), marker)
    proc = tunelab(tmp_path, "predict", "--model", model, "--json", "the cat sat .", "--trust-remote-code", stdin="")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["label"] in ("LABEL_0", "LABEL_1")
    assert marker.exists()


def test_a_run_json_cannot_opt_in_for_the_user(tmp_path):
    """trust_remote_code saved in someone else's run.json does not turn it on: resume says to pass the flag."""
    from tunelab.core.config import FitConfig

    config = FitConfig.from_dict({"model": "m", "trust_remote_code": True})
    assert config.trust_remote_code is False
    assert "--trust-remote-code" in FitConfig(trust_remote_code=True).to_argv()
    assert "--trust-remote-code" not in FitConfig().to_argv()
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": {"model": "m", "data": "demo", "trust_remote_code": True},
                                              "equation": EQN}))
    proc = tunelab(tmp_path, "fit", "--resume", run)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "was started with --trust-remote-code" in proc.stderr and "--resume" in proc.stderr


# ---------------------------------------------------------------- pickled weights

class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("form", ["torch-zip", "bare-pickle"])
def test_a_pytorch_model_bin_with_a_pickle_payload_never_runs(tmp_path, form):
    """A model directory with pytorch_model.bin and no safetensors: read with weights_only, the payload stays inert
    and the model is refused in one line naming the file."""
    import torch

    marker = tmp_path / MARKER
    model = build_tiny_bert(tmp_path / "bin", num_labels=2)
    (model / "model.safetensors").unlink()
    weights = model / "pytorch_model.bin"
    if form == "torch-zip":
        torch.save({"bert.embeddings.word_embeddings.weight": Payload(marker)}, weights)
    else:
        weights.write_bytes(pickle.dumps(Payload(marker)))
    assert not marker.exists()
    for argv in (["predict", "--model", model, "the cat ."], ["attention", "--model", model, "the cat .", "--out",
                                                              tmp_path / "o"],
                 ["eval", "--model", model, "--data", write_toy_splits(tmp_path / "toy"), "--eqn", EQN]):
        proc = tunelab(tmp_path, *argv)
        assert not marker.exists(), proc.stderr[-2000:]
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(weights) in lines[0] and "will not unpickle" in lines[0], proc.stderr[-2000:]


# ---------------------------------------------------------------- --metric and evaluate.load

def test_metric_names_never_run_a_script_from_the_working_directory_or_a_run_json(tmp_path, capsys, monkeypatch):
    """`--metric precision` with ./precision/precision.py in the working directory (evaluate.load would run it),
    and a run.json whose figure_of_merit names a script: refused in one line by fit and eval, nothing runs."""
    from metric_scripts import plant_metric

    marker = plant_metric(tmp_path, "precision")
    plant_metric(tmp_path, "mymetric")
    monkeypatch.chdir(tmp_path)
    data = write_toy_splits(tmp_path / "toy")
    run = tmp_path / "run"
    build_tiny_bert(run / "model", num_labels=2)
    (run / "run.json").write_text(json.dumps({"equation": EQN, "figure_of_merit": "./mymetric/mymetric.py",
                                              "config": {"data": str(data)}}))
    for verb, argv in (("eval", ["eval", "--model", run, "--metric", "precision"]),
                       ("fit", ["fit", "--model", run / "model", "--data", data, "--eqn", EQN, "--metric", "precision",
                                "--out", tmp_path / "out"])):
        ran = in_process(capsys, monkeypatch, *argv)
        assert ran.returncode == 2 and "names a hub metric, but the working directory holds" in ran.stderr, ran.stderr
    ran = in_process(capsys, monkeypatch, "eval", "--model", run)
    assert ran.returncode == 2 and "the run's saved metric './mymetric/mymetric.py' is a metric script" in ran.stderr
    assert not marker.exists() and not (tmp_path / "metric-ran").exists() and not (tmp_path / "out").exists()


def test_resume_never_runs_a_metric_script_named_by_run_json(tmp_path, capsys, monkeypatch):
    from metric_scripts import plant_metric

    marker = plant_metric(tmp_path, "mymetric")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": {"model": "m", "data": "demo",
                                                         "metric": "./mymetric/mymetric.py"}, "equation": EQN}))
    ran = in_process(capsys, monkeypatch, "fit", "--resume", run)
    assert ran.returncode == 2 and "the run's saved metric './mymetric/mymetric.py' is a metric script" in ran.stderr
    assert not marker.exists()


def test_a_launcher_resuming_a_trusted_run_without_the_flag_refuses_at_once(tmp_path):
    """The TUI's Runs screen resumes through launch_detached: refused there, in one line, not in a fit.log."""
    from tunelab.core.errors import TuneLabError
    from tunelab.core.runs import launch_detached

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": {"model": "m", "data": "demo", "trust_remote_code": True},
                                              "equation": EQN}))
    with pytest.raises(TuneLabError, match="was started with --trust-remote-code"):
        launch_detached(resume=str(run))
    assert not (run / "fit.log").exists()


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                  "vocab.txt", "model.safetensors"])
def test_a_pickle_payload_in_place_of_any_model_file_never_runs(tmp_path, capsys, monkeypatch, name):
    """Each file a verb reads from a model directory, replaced by a pickle whose loading would touch the marker:
    none of them is unpickled; the model is refused in one line (or, where the file is optional, still works)."""
    marker = tmp_path / MARKER
    model = build_tiny_bert(tmp_path / "model", num_labels=2)
    if not (model / name).exists():
        pytest.skip(f"the tiny model has no {name}")
    (model / name).write_bytes(pickle.dumps(Payload(marker)))
    ran = in_process(capsys, monkeypatch, "predict", "--model", model, "the cat sat .")
    assert not marker.exists(), ran.stderr[-2000:]
    assert ran.returncode in (0, 2), ran.stderr[-2000:]
    if ran.returncode == 2:
        assert len(ran.stderr.strip().splitlines()) == 1 and ran.stdout == "", ran.stderr[-2000:]
