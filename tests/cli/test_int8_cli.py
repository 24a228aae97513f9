"""`--int8` on `tunelab predict` and `tunelab eval`: opt-in, it prints one agreement line with fp32 (and puts it in
--json), without it nothing is quantized, and where it cannot run it is one line and exit status 2."""

from __future__ import annotations

import json
import math

import pytest

from conftest import agreement_rows, train_tiny, write_toy_splits
from tunelab.cli import main
from tunelab.core import onnx_runtime


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8-cli")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=4, lr=2e-3).run_dir


@pytest.fixture
def sentences(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("".join(row["sentence"] + "\n" for row in agreement_rows(30, seed=4)))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_predict_int8_on_a_file_prints_one_agreement_line(run, sentences, capsys):
    assert main(["predict", "--model", run, "--input", str(sentences), "--int8"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 30                              # stdout: the JSON lines only
    lines = [line for line in captured.err.splitlines() if "int8 against fp32" in line]
    assert len(lines) == 1 and "of 30)" in lines[0] and "largest probability difference" in lines[0]
    assert main(["predict", "--model", run, "--input", str(sentences), "--int8", "--json"]) == 0
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["int8_agreement"]
    assert record["compared"] == 30 and record["label_agreement"] >= 0.9
    assert math.isfinite(record["max_difference"])


def test_predict_int8_to_a_file_says_the_agreement_beside_the_summary(run, sentences, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", run, "--input", str(sentences), "--int8", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "30 predictions written" in text and "int8 against fp32" in text
    assert len(out.read_text().splitlines()) == 30


def test_predict_int8_on_one_sentence(run, capsys):
    assert main(["predict", "--model", run, "the cats are on the mat .", "--int8", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["int8_agreement"]["compared"] == 1 and record["label"]
    assert main(["predict", "--model", run, "the cats are on the mat .", "--int8"]) == 0
    out = capsys.readouterr().out
    assert "int8 against fp32" in out and ("100.0%" in out or "0.0%" in out)


def test_without_int8_nothing_is_quantized_and_no_agreement_is_printed(run, sentences, capsys, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "quantize", lambda *a, **k: pytest.fail("quantized without --int8"))
    assert main(["predict", "--model", run, "--input", str(sentences)]) == 0
    assert "int8" not in capsys.readouterr().err
    assert main(["predict", "--model", run, "the cats are on the mat .", "--json"]) == 0
    assert "int8_agreement" not in json.loads(capsys.readouterr().out)
    assert main(["eval", "--model", run, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["int8_agreement"] is None


def test_eval_int8_prints_the_agreement_and_puts_it_in_json(run, capsys):
    assert main(["eval", "--model", run, "--int8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["int8_agreement"]["compared"] == r["examples"] and r["int8_agreement"]["label_agreement"] >= 0.9
    assert main(["eval", "--model", run, "--int8"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "int8 against fp32" in line]
    assert len(lines) == 1 and f"of {r['examples']})" in lines[0]


def test_eval_on_the_onnx_backend_gives_the_pytorch_scores(run, capsys):
    assert main(["eval", "--model", run, "--json", "--backend", "torch"]) == 0
    torch_report = json.loads(capsys.readouterr().out)
    assert main(["eval", "--model", run, "--json", "--backend", "onnx"]) == 0
    onnx_report = json.loads(capsys.readouterr().out)
    assert onnx_report["confusion"] == torch_report["confusion"]
    assert onnx_report["value"] == pytest.approx(torch_report["value"], abs=1e-6)


@pytest.mark.parametrize("verb", ["predict", "eval"])
def test_int8_with_the_pytorch_backend_is_one_line_and_exit_2(run, verb, capsys):
    args = ["predict", "--model", run, "a dog"] if verb == "predict" else ["eval", "--model", run]
    assert main([*args, "--int8", "--backend", "torch"]) == 2
    assert "does not go with --backend torch" in one_error_line(capsys)


@pytest.mark.parametrize("verb", ["predict", "eval"])
def test_int8_without_onnxruntime_is_one_line_and_exit_2(run, verb, capsys, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)
    args = ["predict", "--model", run, "a dog"] if verb == "predict" else ["eval", "--model", run]
    assert main([*args, "--int8"]) == 2
    assert "needs onnxruntime" in one_error_line(capsys)


@pytest.mark.parametrize("verb", ["predict", "eval"])
def test_a_failed_quantization_is_one_line_and_exit_2(run, verb, sentences, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the quantizer broke\nwith a long story")

    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", broken)
    out = tmp_path / "never.jsonl"
    args = (["predict", "--model", run, "--input", str(sentences), "--output", str(out)] if verb == "predict"
            else ["eval", "--model", run])
    assert main([*args, "--int8"]) == 2
    assert "could not quantize" in one_error_line(capsys) and not out.exists()


def test_int8_on_a_qa_model_is_one_line_and_exit_2(tiny_qa_run, capsys):
    assert main(["predict", "--model", str(tiny_qa_run), "--question", "who?", "--context", "Ann ran.", "--int8"]) == 2
    assert "PyTorch only; --int8 quantizes the ONNX graph" in one_error_line(capsys)
