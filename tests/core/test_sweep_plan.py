"""A sweep's space and plan (core/sweep.py): every --grid name and value checked against FitConfig's settings,
the grid expanded into runs, the manifest written whole; and compare's grouping by seed (core/compare.py)."""

import json
import statistics
import time
from pathlib import Path

import pytest

from tunelab.core.compare import compare
from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.sweep import Range, grid_points, load_sweep, parse_space, plan_sweep


def test_grid_values_are_typed_by_their_setting_and_expanded_last_fastest():
    space = parse_space(["lr=1e-5,3e-5", "seed=1,2,3", "batch-size=16,auto", "label_all_tokens=true,false"])
    assert space == {"lr": [1e-05, 3e-05], "seed": [1, 2, 3], "batch_size": [16, "auto"],
                     "label_all_tokens": [True, False]}
    points = grid_points({"lr": [1e-5, 3e-5], "seed": [1, 2, 3]})
    assert len(points) == 6
    assert points[:3] == [{"lr": 1e-5, "seed": s} for s in (1, 2, 3)]


@pytest.mark.parametrize("item, fragment", [
    ("learning_rate=1e-5", "no such setting"),
    ("lr=0", "out of range"),
    ("lr=2", "out of range"),
    ("seed=1.5", "not a whole number"),
    ("epochs=abc", "not a number"),
    ("out=a,b", "cannot be swept"),
    ("lr=1e-5:1e-4:log", "a range is for --search optuna"),
    ("lr", "give a setting and its values"),
    ("seed=1,1", "given twice"),
    ("label_all_tokens=maybe", "not true or false"),
])
def test_a_bad_grid_is_one_line_naming_the_mistake(item, fragment):
    with pytest.raises(TuneLabError) as err:
        parse_space([item])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_setting_added_to_fitconfig_can_be_swept_with_no_sweep_code():
    """The grid reads FitConfig's declarations: every setting with a range is checked by its own range."""
    from tunelab.core.config import SETTINGS

    for s in SETTINGS:
        if s.kind in (int, float) and s.maximum is not None and s.name not in ("out",):
            too_big = int(s.maximum * 10 + 10) if s.kind is int else s.maximum * 10 + 10
            with pytest.raises(TuneLabError, match="out of range"):
                parse_space([f"{s.name}={too_big}"])


def test_optuna_ranges_and_categories():
    space = parse_space(["lr=1e-5:1e-4:log", "seed=1,2", "epochs=1:3"], ranges=True)
    assert space["lr"] == Range(1e-5, 1e-4, True) and space["seed"] == [1, 2] and space["epochs"] == Range(1.0, 3.0)
    with pytest.raises(TuneLabError, match="low end"):
        parse_space(["lr=1e-4:1e-5"], ranges=True)


def test_plan_checks_every_point_whole_and_writes_the_manifest(tmp_path):
    base = FitConfig(model="m", data="demo")
    with pytest.raises(TuneLabError, match="--warmup 1.5"):   # validate(): a step count must be whole
        plan_sweep(tmp_path / "bad", base, {"warmup": [0.1, 1.5]})
    assert not (tmp_path / "bad").exists()                    # nothing written
    sweep = plan_sweep(tmp_path / "s", base, {"lr": [1e-5, 3e-5], "seed": [1, 2]}, parallel=2)
    again = load_sweep(tmp_path / "s")
    assert [r["name"] for r in again.runs] == ["001-lr=1e-05-seed=1", "002-lr=1e-05-seed=2",
                                               "003-lr=3e-05-seed=1", "004-lr=3e-05-seed=2"]
    assert again.runs[2]["settings"] == {"lr": 3e-5, "seed": 1} and again.parallel == 2 == sweep.parallel
    with pytest.raises(TuneLabError, match="already holds a sweep"):
        plan_sweep(tmp_path / "s", base, {"lr": [1e-5]})


def test_a_grid_over_200_runs_needs_yes(tmp_path):
    space = {"seed": list(range(201))}
    with pytest.raises(TuneLabError, match="201 runs .*--yes"):
        plan_sweep(tmp_path / "big", FitConfig(), dict(space))
    assert not (tmp_path / "big").exists()
    assert len(plan_sweep(tmp_path / "big", FitConfig(), dict(space), confirmed=True).runs) == 201


# ---------------------------------------------------------------- compare

def fake_run(root: Path, valid: float, test: float, seconds: float, **config) -> Path:
    """A finished run's directory as the trainer leaves it (run.json, events.jsonl, metrics.json)."""
    from tunelab.core.events import EvalDone, RunFinished, RunStarted, StepLogged, event_to_json

    root.mkdir(parents=True)
    cfg = {**json.loads(FitConfig(model="m", data="d").to_json()), **config, "out": str(root)}
    (root / "run.json").write_text(json.dumps({"config": cfg, "figure_of_merit": "mcc", "total_steps": 10,
                                               "parameters": {"trainable": 1000, "total": 4000},
                                               "resources": {"peak_rss_mb": 500.0, "peak_gpu_mb": 0.0}}))
    t = time.time() - 100
    events = [RunStarted(str(root), "m", "classify", "cpu", 10, 1, 160, time=t),
              StepLogged(10, 1.0, 0.5, 1e-5, 200.0, 1000.0, rss_mb=450.0, time=t + seconds / 2),
              EvalDone(10, 1.0, "validation", {"mcc": valid}, "mcc", True, time=t + seconds),
              RunFinished(10, "completed", valid, "mcc", str(root / "model"), seconds, time=t + seconds)]
    (root / "events.jsonl").write_text("".join(event_to_json(e) + "\n" for e in events))
    (root / "metrics.json").write_text(json.dumps({"figure_of_merit": "mcc", "validation": {"mcc": valid},
                                                   "test": {"mcc": test}}))
    return root


def test_compare_groups_runs_that_differ_only_by_seed_with_mean_std_and_count(tmp_path):
    scores = {(1e-5, 1): 0.30, (1e-5, 2): 0.34, (1e-5, 3): 0.32, (3e-5, 1): 0.50, (3e-5, 2): 0.40}
    runs = [fake_run(tmp_path / f"lr{lr}-s{seed}", v, v - 0.1, 10.0 + seed, lr=lr, seed=seed)
            for (lr, seed), v in scores.items()]
    result = compare(runs)
    assert result.differing == ["lr", "seed"] and result.grouped and result.figure_of_merit == "mcc"
    best, second = result.rows                                 # sorted by the figure of merit, best first
    assert best.settings == {"lr": 3e-5} and best.count == 2
    assert best.figures["best_validation"].mean == pytest.approx(0.45)
    assert best.figures["best_validation"].std == pytest.approx(statistics.stdev([0.5, 0.4]))
    assert second.count == 3 and second.figures["test"].mean == pytest.approx(0.22)
    assert second.figures["best_validation"].text() == "0.3200 ± 0.0200"
    assert second.figures["train_seconds"].mean == pytest.approx(12.0)
    assert best.figures["trainable_parameters"].mean == 1000 and best.figures["peak_memory_mb"].mean == 500.0
    flat = compare(runs, group_seeds=False)
    assert not flat.grouped and len(flat.rows) == 5 and flat.rows[0].settings == {"lr": 3e-5, "seed": 1}


def test_compare_shows_only_the_settings_that_differ(tmp_path):
    a = fake_run(tmp_path / "a", 0.2, 0.1, 5.0, freeze_layers=4)
    b = fake_run(tmp_path / "b", 0.4, 0.3, 9.0, freeze_layers=-1)
    result = compare([a, b])
    assert result.differing == ["freeze_layers"] and not result.grouped
    assert [r.settings for r in result.rows] == [{"freeze_layers": -1}, {"freeze_layers": 4}]
    with pytest.raises(TuneLabError, match="neither a run"):
        compare([tmp_path])


# ---------------------------------------------------------------- the Optuna queue

def test_a_trial_falling_behind_the_median_is_stopped_and_told_pruned(tmp_path):
    """The median pruner at each evaluation: a run whose validation figure falls below the median of earlier
    trials' at the same evaluation is asked to stop (stop.request), and its trial is told PRUNED once it has."""
    import optuna

    from tunelab.core.events import EvalDone, RunFinished, RunStarted, event_to_json
    from tunelab.core.sweep import sweep_info
    from tunelab.core.sweep_driver import OptunaQueue

    sweep = plan_sweep(tmp_path / "o", FitConfig(model="m", data="d"), {"lr": Range(1e-5, 1e-3, True)},
                       search="optuna", trials=10)
    queue = OptunaQueue(sweep)
    for _ in range(5):                            # five finished trials that scored 0.8 at their first evaluation
        trial = queue.study.ask(queue.distributions())
        trial.report(0.8, 1)
        queue.study.tell(trial, 0.8)
    entry, resume = queue.next(set())
    assert not resume and entry["trial"] == 5 and set(entry["settings"]) == {"lr"}
    run = sweep.run_dir(entry["name"])
    run.mkdir()
    cfg = json.loads(FitConfig(model="m", data="d").to_json())
    (run / "run.json").write_text(json.dumps({"config": cfg, "figure_of_merit": "mcc", "total_steps": 10}))
    log = [RunStarted(str(run), "m", "classify", "cpu", 10, 1, 160),
           EvalDone(5, 0.5, "validation", {"mcc": 0.1}, "mcc", True)]
    (run / "events.jsonl").write_text("".join(event_to_json(e) + "\n" for e in log))
    queue.watch(entry["name"])
    queue.poll({entry["name"]: 0})
    assert (run / "stop.request").is_file()       # asked to stop cleanly, with a checkpoint
    with open(run / "events.jsonl", "a") as fh:
        fh.write(event_to_json(RunFinished(6, "stopped", 0.1, "mcc", "", 1.0)) + "\n")
    queue.ended(entry["name"], stopping=False)
    assert queue.study.trials[5].state == optuna.trial.TrialState.PRUNED
    assert load_sweep(sweep.root).runs[0]["state"] == "pruned"
    assert sweep_info(sweep.root).runs[0].state == "pruned" and sweep_info(sweep.root).done == 1


# ---------------------------------------------------------------- the driver's slots

def test_parallel_runs_each_get_their_own_gpu(tmp_path, monkeypatch):
    """With GPUs, each of the N runs at once gets its own device through CUDA_VISIBLE_DEVICES (the visible ones in
    turn); the run started when a slot frees up gets that slot's device. Launches are recorded, not started."""
    import threading

    from tunelab.core.events import RunFinished, RunStarted, event_to_json
    from tunelab.core.sweep import sweep_info
    from tunelab.core.sweep_driver import drive

    sweep = plan_sweep(tmp_path / "g", FitConfig(model="m", data="d"), {"seed": [1, 2, 3]}, parallel=2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    launched = []

    def launch(config=None, resume=None, env=None, **kw):     # a run that finishes at once
        root = Path(config.out)
        root.mkdir()
        (root / "run.json").write_text(json.dumps({"config": json.loads(config.to_json()), "figure_of_merit": "mcc"}))
        log = [RunStarted(str(root), "m", "classify", "cuda", 10, 1, 160),
               RunFinished(10, "completed", 0.5, "mcc", "", 1.0)]
        (root / "events.jsonl").write_text("".join(event_to_json(e) + "\n" for e in log))
        launched.append((root.name, config.seed, env))
        return root, 0

    monkeypatch.setattr("tunelab.core.runs.launch_detached", launch)
    drive(sweep.root, threading.Event(), say=lambda text: None)
    assert [(seed, env["CUDA_VISIBLE_DEVICES"]) for _, seed, env in launched] == [(1, "4"), (2, "7"), (3, "4")]
    assert sweep_info(sweep.root).done == 3
