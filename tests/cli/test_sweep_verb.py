"""`tunelab sweep`, `stop` and `compare` through the real CLI in subprocesses: a sweep killed mid-run (driver and
run, kill -9) and resumed completes every run exactly once; --parallel 2 on CPU runs two at once and stops
resumably; an Optuna study is resumed from its SQLite file; bad input is one line, exit 2, nothing written.

As in test_runs_cli, no test hopes a tiny run is still going when it looks: runs are held at a step by the
trainer's test-only hold (TUNELAB_TEST_HOLD, inherited by every run the driver starts), and the tests wait on
states read from the run directories, never on sleeps."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunelab.core.events import CheckpointSaved, RunFinished, RunStarted, StepLogged, read_events
from tunelab.core.liveness import read_owner
from tunelab.core.run_status import RunStatus, run_info
from tunelab.core.sweep import load_sweep, sweep_info

from conftest import build_tiny_bert, write_toy_splits

EQN = "classify: label ~ sentence"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep-cli")
    return build_tiny_bert(root / "tiny"), write_toy_splits(root / "toy")


def env(tmp_path, hold=None, hold_step=0):
    extra = {"TUNELAB_TEST_HOLD": str(hold), "TUNELAB_TEST_HOLD_STEP": str(hold_step)} if hold is not None else {}
    return {**os.environ, "TUNELAB_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            **extra}


def tunelab(tmp_path, *args, timeout=300, hold=None, hold_step=0):
    return subprocess.run([sys.executable, "-m", "tunelab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env(tmp_path, hold, hold_step), cwd=tmp_path)


@pytest.fixture
def hold(tmp_path):
    path = tmp_path / "hold"
    path.touch()
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def sweeps(tmp_path):
    """Sweeps a test started: any driver or run still going at the end is stopped, so none outlives its test."""
    started: list[Path] = []
    yield started
    for s in started:
        for pid in _pids(s):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _pids(sweep: Path) -> list[int]:
    owners = [read_owner(sweep / "driver")] + [read_owner(p) for p in sweep.iterdir() if p.is_dir()]
    return [o.pid for o in owners if o is not None and o.pid != os.getpid()]


def sweep_args(assets, out, *extra):
    model, data = assets
    return ["sweep", "--out", out, "--model", model, "--data", data, "--eqn", EQN, "--lr", "1e-3",
            "--batch-size", "16", "--warmup", "0", *extra]


def wait_for(predicate, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def events(run):
    path = Path(run) / "events.jsonl"
    return list(read_events(path)) if path.exists() else []


def completions(run) -> int:
    return sum(isinstance(e, RunFinished) and e.status == "completed" for e in events(run))


def test_a_sweep_killed_mid_run_and_resumed_completes_every_run_exactly_once(assets, tmp_path, hold, sweeps):
    out = tmp_path / "s"
    sweeps.append(out)
    # 10 steps an epoch: the 1-epoch runs never reach step 12, so the third run (2 epochs) is the one held there,
    # after its periodic checkpoint at step 10
    done = tunelab(tmp_path, *sweep_args(assets, out, "--grid", "epochs=1,2", "--grid", "seed=1,2",
                                         "--save-every", "5"), hold=hold, hold_step=12)
    assert done.returncode == 0, done.stderr
    sweep = load_sweep(out)
    names = [r["name"] for r in sweep.runs]
    assert names == ["001-epochs=1-seed=1", "002-epochs=1-seed=2",
                     "003-epochs=2-seed=1", "004-epochs=2-seed=2"]
    third = out / names[2]
    wait_for(lambda: any(isinstance(e, StepLogged) and e.step >= 12 for e in events(third))
             and any(isinstance(e, CheckpointSaved) and e.step >= 10 for e in events(third)),
             what="the third run held past its checkpoint")
    info = sweep_info(out)
    assert info.status == "running" and info.done == 2 and [r.name for r in info.current] == [names[2]]
    listed = tunelab(tmp_path, "runs", out)
    assert "2/4" in listed.stdout and names[2] in listed.stdout
    for pid in (read_owner(out / "driver").pid, read_owner(third).pid):      # the driver and its run, kill -9
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: run_info(third).status == RunStatus.CRASHED, what="the run to read as crashed")
    wait_for(lambda: sweep_info(out).status == "crashed", what="the sweep to read as crashed")
    hold.unlink()
    resumed = tunelab(tmp_path, "sweep", "--resume", out)
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: sweep_info(out).status == "completed", what="the resumed sweep to complete")
    info = sweep_info(out)
    assert info.done == info.total == 4 and not info.failed
    assert [completions(out / n) for n in names] == [1, 1, 1, 1]            # every run completed exactly once
    starts = [(e.segment, e.resumed_from_step) for e in events(third) if isinstance(e, RunStarted)]
    assert len(starts) == 2 and starts[1][0] == 2 and starts[1][1] >= 10    # cut off, then resumed, not redone
    for n in (names[0], names[1], names[3]):
        assert len([e for e in events(out / n) if isinstance(e, RunStarted)]) == 1
    compared = tunelab(tmp_path, "compare", out, "--json")
    assert compared.returncode == 0, compared.stderr
    table = json.loads(compared.stdout)
    assert table["differing"] == ["epochs", "seed"] and table["grouped_by_seed"]
    assert sorted(r["epochs"] for r in table["rows"]) == [1.0, 2.0] and all(r["runs"] == 2 for r in table["rows"])


def test_parallel_2_on_cpu_runs_two_at_once_and_stop_leaves_both_resumable(assets, tmp_path, hold, sweeps):
    out = tmp_path / "p"
    sweeps.append(out)
    started = tunelab(tmp_path, *sweep_args(assets, out, "--epochs", "1", "--grid", "seed=1,2", "--parallel", "2"),
                      hold=hold, hold_step=1)
    assert started.returncode == 0, started.stderr
    runs = [out / r["name"] for r in load_sweep(out).runs]
    # both held at their first step at the same time: two runs at once
    wait_for(lambda: all(any(isinstance(e, StepLogged) for e in events(r)) for r in runs)
             and all(run_info(r).status == RunStatus.RUNNING for r in runs), what="both runs going at once")
    assert len(sweep_info(out).current) == 2
    stopped = tunelab(tmp_path, "stop", out, "--wait")
    assert stopped.returncode == 0, stopped.stderr
    assert [run_info(r).status for r in runs] == [RunStatus.STOPPED, RunStatus.STOPPED]
    assert sweep_info(out).status == "stopped"
    again = tunelab(tmp_path, "stop", out)
    assert again.returncode == 2 and "nothing to stop" in again.stderr and "--resume" in again.stderr
    hold.unlink()
    assert tunelab(tmp_path, "sweep", "--resume", out).returncode == 0
    wait_for(lambda: sweep_info(out).status == "completed", what="the resumed sweep to complete")
    assert [completions(r) for r in runs] == [1, 1]
    assert all(len([e for e in events(r) if isinstance(e, RunStarted)]) == 2 for r in runs)


def test_an_optuna_study_is_resumed_from_its_sqlite_file(assets, tmp_path, hold, sweeps):
    import optuna

    out = tmp_path / "o"
    sweeps.append(out)
    started = tunelab(tmp_path, *sweep_args(assets, out, "--epochs", "1", "--save-every", "2", "--search", "optuna",
                                            "--trials", "3", "--grid", "weight-decay=0.0:0.1", "--grid", "seed=1,2"),
                      hold=hold, hold_step=4)
    assert started.returncode == 0, started.stderr
    wait_for(lambda: load_sweep(out).runs, what="the first trial")
    first = out / load_sweep(out).runs[0]["name"]
    wait_for(lambda: any(isinstance(e, CheckpointSaved) and e.step >= 2 for e in events(first))
             and any(isinstance(e, StepLogged) and e.step >= 4 for e in events(first)), what="the first trial held")
    for pid in (read_owner(out / "driver").pid, read_owner(first).pid):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: sweep_info(out).status == "crashed", what="the sweep to read as crashed")
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.load_study(study_name="tunelab", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.RUNNING]
    hold.unlink()
    assert tunelab(tmp_path, "sweep", "--resume", out).returncode == 0
    wait_for(lambda: sweep_info(out).status == "completed", what="the resumed search to complete")
    study = optuna.load_study(study_name="tunelab", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2]                       # no trial asked twice or lost
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    runs = load_sweep(out).runs
    assert [r["trial"] for r in runs] == [0, 1, 2]
    for r, t in zip(runs, study.trials):
        assert r["settings"] == t.params and completions(out / r["name"]) == 1
        assert t.value == pytest.approx(run_info(out / r["name"]).best_metric)
    assert [(e.segment, e.resumed_from_step > 0) for e in events(first) if isinstance(e, RunStarted)] == \
        [(1, False), (2, True)]


@pytest.mark.parametrize("args, fragment", [
    (["--grid", "learning_rate=1e-5"], "no such setting"),
    (["--grid", "lr=5"], "out of range"),
    (["--grid", "seed=1,2", "--seed", "3"], "both as a flag and in --grid"),
    (["--grid", "seed=" + ",".join(map(str, range(201)))], "--yes"),
    ([], "at least one --grid"),
])
def test_bad_sweep_input_is_one_line_exit_2_and_nothing_starts(tmp_path, args, fragment):
    out = tmp_path / "bad"
    done = tunelab(tmp_path, "sweep", "--out", out, "--data", "demo", *args)
    assert done.returncode == 2 and fragment in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, fragment", [
    (["sweep", "--resume", "."], "is not a sweep"),
    (["sweep", "--resume", ".", "--lr", "1e-3"], "drop --lr"),
    (["compare", "."], "neither a run"),
    (["compare", "missing"], "not a directory"),
    (["sweep", "--out", "x", "--search", "optuna", "--grid", "lr=1e-5:1e-4:log", "--trials", "0"], "--trials 0"),
])
def test_resume_compare_and_search_mistakes_are_one_line(tmp_path, args, fragment):
    done = tunelab(tmp_path, *args)
    assert done.returncode == 2 and fragment in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_run_that_outlived_its_killed_driver_is_waited_for_not_started_again(assets, tmp_path, hold, sweeps):
    out = tmp_path / "d"
    sweeps.append(out)
    started = tunelab(tmp_path, *sweep_args(assets, out, "--epochs", "1", "--grid", "seed=1,2"), hold=hold, hold_step=1)
    assert started.returncode == 0, started.stderr
    first = out / load_sweep(out).runs[0]["name"]
    wait_for(lambda: any(isinstance(e, StepLogged) for e in events(first)), what="the first run held")
    os.kill(read_owner(out / "driver").pid, signal.SIGKILL)          # the driver alone; its run goes on
    wait_for(lambda: sweep_info(out).status == "crashed", what="the driver to read as gone")
    assert run_info(first).status == RunStatus.RUNNING
    assert tunelab(tmp_path, "sweep", "--resume", out).returncode == 0
    wait_for(lambda: "following" in (out / "sweep.log").read_text(), what="the new driver to follow the run")
    hold.unlink()
    wait_for(lambda: sweep_info(out).status == "completed", what="the sweep to complete")
    runs = [out / r["name"] for r in load_sweep(out).runs]
    assert [completions(r) for r in runs] == [1, 1]
    assert [len([e for e in events(r) if isinstance(e, RunStarted)]) for r in runs] == [1, 1]   # never restarted
