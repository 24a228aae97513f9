"""The second sweep of user mistakes (new variants of the classes issue 7 named): each case that misbehaved, as a
user meets it through the CLI. Every one must be one line and exit 2 (or a correct result), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from sweep_support import one_line, trained_run
from tunelab.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("sweep2"))


@pytest.mark.parametrize("damage, words", [
    (b"[1, 2]", "holds no run configuration"),
    (b"\xff\xfe\x00junk", "is damaged"),
    ("retype", "config.data is int"),
])
def test_eval_of_a_run_with_a_damaged_run_json(trained, tmp_path, capsys, damage, words):
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    if damage == "retype":
        data = json.loads((run / "run.json").read_text(encoding="utf-8"))
        data["config"]["data"] = 7
        (run / "run.json").write_text(json.dumps(data), encoding="utf-8")
    else:
        (run / "run.json").write_bytes(damage)
    assert words in one_line(capsys, main(["eval", "--model", str(run)]), "eval")


def test_an_owner_json_with_an_impossible_pid_does_not_stop_the_listing(trained, tmp_path, capsys):
    run = tmp_path / "runs" / "odd"
    shutil.copytree(trained["run"], run)
    (run / "owner.json").write_text('{"pid": 1e400, "host": "vm", "started": "yesterday"}')
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in listed] == ["completed"]          # its events still say how it ended
    one_line(capsys, main(["stop", str(run)]), "stop")


@pytest.mark.parametrize("key, value, verb", [
    ("num_hidden_layers", "six", ["predict", "--model", "{m}", "a cat sat ."]),
    ("id2label", [1, 2], ["summary", "--model", "{m}"]),
    ("max_position_embeddings", "1e999", ["summary", "--model", "{m}", "--data", "{d}", "--eqn", "classify: label ~ sentence"]),
])
def test_a_model_whose_config_json_has_a_wrong_value(trained, tmp_path, capsys, key, value, verb):
    model = tmp_path / "m"
    shutil.copytree(trained["run"] / "model", model)
    text = (model / "config.json").read_text(encoding="utf-8")
    config = json.loads(text)
    config[key] = "@@" if value == "1e999" else value
    text = json.dumps(config).replace('"@@"', "1e999")      # a number JSON can hold and no int can
    (model / "config.json").write_text(text, encoding="utf-8")
    args = [a.format(m=model, d=trained["data"]) for a in verb]
    err = one_line(capsys, main(args), verb[0])
    assert "config" in err or "could not load model" in err


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
def test_probe_checks_its_seed_like_fit(trained, capsys, seed):
    err = one_line(capsys, main(["probe", "--model", str(trained["base"]), "--data", str(trained["data"]),
                                 "--eqn", "classify: label ~ sentence", "--limit", "4", "--seed", seed]), "probe")
    assert "--seed" in err


def cli(tmp_path, *args, extra_env=None, **kw):
    env = {**os.environ, "TUNELAB_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, **kw)


def test_a_detached_run_stopped_before_it_began_ends_stopped_and_resumes(trained, tmp_path):
    out = tmp_path / "run"
    hold = tmp_path / "hold"       # the trainer's test-only hold: it cannot finish before the stop, however fast
    hold.touch()
    started = cli(tmp_path, "fit", "--model", trained["base"], "--data", trained["data"], "--eqn",
                  "classify: label ~ sentence", "--epochs", "3", "--batch-size", "16", "--out", out, "--detach",
                  extra_env={"TUNELAB_TEST_HOLD": str(hold), "TUNELAB_TEST_HOLD_STEP": "1"})
    assert started.returncode == 0, started.stderr
    stopped = cli(tmp_path, "stop", out, "--wait")             # at once: the trainer is still loading
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, (stopped.stdout, stopped.stderr, (out / "fit.log").read_text())
    hold.unlink()
    resumed = cli(tmp_path, "fit", "--resume", out)
    assert resumed.returncode == 0 and "completed" in resumed.stdout + resumed.stderr, resumed.stderr


def test_closed_standard_streams_and_no_terminal(tmp_path):
    env = {**os.environ, "TUNELAB_HOME": str(tmp_path / "home")}
    run = lambda args, **kw: subprocess.run([sys.executable, "-m", "tunelab", *args], env=env, cwd=tmp_path,  # noqa: E731
                                            timeout=120, **kw)
    assert run(["--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
               preexec_fn=lambda: os.close(1)).returncode == 0                 # stdout closed
    assert run(["models"], stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(2)).returncode == 0   # stderr closed
    closed_stdin = run(["predict", "--input", "-"], capture_output=True, text=True, preexec_fn=lambda: os.close(0))
    assert closed_stdin.returncode == 2 and "Traceback" not in closed_stdin.stderr
    started = time.monotonic()
    no_terminal = run(["tui"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert no_terminal.returncode == 2 and "needs a terminal" in no_terminal.stderr
    assert time.monotonic() - started < 60


def test_a_model_without_tokenizer_files_or_encoder_weights_is_refused(trained, tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(trained["run"] / "model", no_tokenizer)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    assert "no tokenizer files" in one_line(capsys, main(["predict", "--model", str(no_tokenizer), "a cat ."]), "predict")

    head_only = tmp_path / "head-only"
    shutil.copytree(trained["run"] / "model", head_only)
    weights = load_file(str(head_only / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if k.startswith("classifier")}, str(head_only / "model.safetensors"))
    for verb in (["predict", "--model", str(head_only), "a cat ."],
                 ["attention", "--model", str(head_only), "a cat .", "--out", str(tmp_path / "att")]):
        err = one_line(capsys, main(verb), verb[0])
        assert "lack" in err and "encoder's tensors" in err
    assert not (tmp_path / "att").exists()


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n", encoding="utf-8")
    return path


def test_labels_that_differ_only_by_spaces_and_a_column_named_twice(tmp_path, capsys):
    rows = [(f"sentence {i}", ["pos", "neg", "pos "][i % 3]) for i in range(30)]
    spaced = write_csv(tmp_path / "spaced.csv", ["sentence", "label"], rows)
    err = one_line(capsys, main(["summary", "--data", str(spaced), "--eqn", "classify: label ~ sentence"]), "summary")
    assert "'pos' and 'pos '" in err and "differ only by spaces" in err
    twice = write_csv(tmp_path / "twice.csv", ["sentence", "label", "label"], [(s, l, "x") for s, l in rows])
    err = one_line(capsys, main(["cat", "--data", str(twice), "--eqn", "classify: label ~ sentence"]), "cat")
    assert "names column 'label' twice" in err


def test_fit_on_a_full_disk_is_one_line(trained, tmp_path, capsys, monkeypatch):
    import errno

    from tunelab.core import atomic_write

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_write, "write_atomic", full)
    rc = main(["fit", "--model", str(trained["base"]), "--data", str(trained["data"]), "--eqn",
               "classify: label ~ sentence", "--epochs", "0.1", "--out", str(tmp_path / "run")])
    assert "No space left on device" in one_line(capsys, rc, "fit")
