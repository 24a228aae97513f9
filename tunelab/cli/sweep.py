"""`tunelab sweep`: run a grid (or an Optuna search) of fine-tuning settings, detached, under one folder.

Every name and value of `--grid` is checked against FitConfig's settings, every point's configuration is checked
whole and the model and data are read once, all before anything starts (a mistake is one line, exit 2, and
nothing is written). Then the sweep's manifest is written and its driver (core/sweep_driver.py) starts detached.
"""

from __future__ import annotations

from dataclasses import replace

from .common import add_json, add_trust_remote_code, console, err_console, literal, print_json
from .fit import _given_settings, add_setting_flags, config_from_args
from .progress import said, say

# settings that do not change what `resolve` checks (the model, data, labels, lengths, step plan): points that
# differ only in these are checked once
_NOT_RESOLVED = {"lr", "weight_decay", "max_grad_norm", "save_every", "log_seconds", "seed", "n_best",
                 "null_threshold", "max_answer_length", "eval_batch_size"}


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid or an Optuna search of settings, detached, and compare the runs",
                       description="tunelab sweep --out sweeps/cola --grid lr=1e-5,3e-5,5e-5 --grid seed=1,2,3 "
                                   "[any fit flag]. Each --grid names a fit setting and its values; every "
                                   "combination is one run under --out.")
    add_setting_flags(p)
    p.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                   help="a setting and its values (repeat for more settings); with --search optuna also "
                        "NAME=LOW:HIGH or NAME=LOW:HIGH:log for a numeric range")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at once (default 1); with GPUs each run gets its own (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--search", choices=("grid", "optuna"), default="grid",
                   help="grid: every combination (default); optuna: TPE sampling with median pruning")
    p.add_argument("--trials", type=int, default=20, help="--search optuna: how many trials (default 20)")
    p.add_argument("--storage", default="", metavar="URL",
                   help="--search optuna: the study's database (default: sqlite in the sweep folder); a shared "
                        "database URL lets several machines work on one study")
    p.add_argument("--resume", default=None, metavar="SWEEP",
                   help="continue a sweep: its driver starts the runs not done, resuming any that was cut off")
    p.add_argument("--yes", action="store_true", help="start a grid of more than 200 runs")
    add_trust_remote_code(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunelab.core.errors import TuneLabError
    from tunelab.core.sweep import parse_space, plan_sweep
    from tunelab.core.sweep_driver import launch_driver

    if args.resume:
        typed = [f for f in _given_settings(args)] + (["--grid"] if args.grid else [])
        if typed:
            raise TuneLabError(f"--resume takes the sweep from {args.resume}/sweep.json; drop {', '.join(typed)}")
        from tunelab.core.sweep import sweep_info

        info = sweep_info(args.resume)
        if info.status == "completed":
            raise TuneLabError(f"the sweep {args.resume!r} is completed ({info.done}/{info.total} done): nothing to "
                               f"resume; compare its runs with: tunelab compare {args.resume}")
        pid = launch_driver(args.resume, trust_remote_code=args.trust_remote_code)
        return _started(args, args.resume, pid, info.total)
    if not args.out:
        raise TuneLabError("give the sweep a folder: --out sweeps/NAME")
    if not args.grid:
        raise TuneLabError("give at least one --grid setting, e.g. --grid lr=1e-5,3e-5,5e-5 --grid seed=1,2,3")
    if not 1 <= args.parallel <= 64:
        raise TuneLabError(f"--parallel {args.parallel}: give between 1 and 64 runs at once")
    if args.search == "optuna" and not 1 <= args.trials <= 100_000:
        raise TuneLabError(f"--trials {args.trials}: give between 1 and 100000")
    space = parse_space(args.grid, ranges=args.search == "optuna")
    both = [f"--{n.replace('_', '-')}" for n in space if f"--{n.replace('_', '-')}" in _given_settings(args)]
    if both:
        raise TuneLabError(f"{both[0]} is given both as a flag and in --grid; keep one")
    out = args.out
    from pathlib import Path

    from tunelab.core.sweep import check_new_sweep_dir

    check_new_sweep_dir(Path(out).expanduser())       # before the model and data are read
    from tunelab.core.sweep import CONFIRM_ABOVE, grid_points

    if args.search == "grid" and not args.yes:       # said before the model and data are read
        count = len(grid_points(space))
        if count > CONFIRM_ABOVE:
            raise TuneLabError(f"this grid makes {count:,} runs (more than {CONFIRM_ABOVE}); "
                               f"pass --yes to start them all")
    base = replace(config_from_args(args), out="")
    base.validate()
    direction = _check_points(base, space, args.search)
    sweep = plan_sweep(out, base, space, search=args.search, trials=args.trials, parallel=args.parallel,
                       storage=args.storage, confirmed=args.yes, direction=direction)
    if args.search == "optuna":
        _open_study(sweep)
    pid = launch_driver(sweep.root, trust_remote_code=args.trust_remote_code)
    return _started(args, out, pid, sweep.total)


def _check_points(base, space: dict, search: str) -> str:
    """Read the model and data of every distinct point (as `fit --detach` does), before anything is written;
    returns which way the figure of merit is better."""
    from tunelab.core.fit import resolve
    from tunelab.core.metrics import HIGHER_IS_BETTER
    from tunelab.core.sweep import Range, grid_points

    from tunelab.core.config import SETTINGS_BY_NAME

    if search == "optuna":          # both ends of every range, and every value of each list that changes a check
        low = {k: (v.low if isinstance(v, Range) else v[0]) for k, v in space.items()}
        points = [low, {k: (v.high if isinstance(v, Range) else v[-1]) for k, v in space.items()}]
        points += [{**low, k: value} for k, values in space.items() if isinstance(values, list)
                   and k not in _NOT_RESOLVED for value in values]
    else:
        points = grid_points(space)
    seen, metric = set(), ""
    try:
        for point in points:
            key = tuple(sorted((k, repr(v)) for k, v in point.items() if k not in _NOT_RESOLVED))
            if key in seen:
                continue
            seen.add(key)
            point = {k: (int(v) if SETTINGS_BY_NAME[k].kind is int and isinstance(v, float) else v)
                     for k, v in point.items()}
            config = replace(base, **point, out="")
            config.validate()
            metric = resolve(config, say).metric
    finally:
        said()
    return "maximize" if HIGHER_IS_BETTER.get(metric, True) else "minimize"


def _open_study(sweep) -> None:
    """Create (or join) the Optuna study now, so a wrong --storage URL is one line here, not in sweep.log."""
    from tunelab.core.errors import TuneLabError

    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(storage=sweep.storage_url(), study_name=sweep.study_name, load_if_exists=True,
                            direction=sweep.direction)
    except ImportError:
        raise TuneLabError("--search optuna needs the optuna package: pip install 'optuna>=4.0'") from None
    except Exception as err:
        sweep.manifest.unlink(missing_ok=True)
        raise TuneLabError(f"--storage {sweep.storage_url()!r}: the study cannot be opened "
                           f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None


def _started(args, out, pid: int, total: int | None = None) -> int:
    if args.json:
        print_json({"sweep": str(out), "pid": pid, "total": total})
        return 0
    runs = f"{total} runs, " if total else ""
    console.print(f"sweep {literal(out)}  ({runs}driver pid {pid}, output in {literal(str(out) + '/sweep.log')})")
    err_console.print(f"progress: tunelab runs {literal(out)}   compare: tunelab compare {literal(out)}   "
                      f"stop: tunelab stop {literal(out)}")
    return 0
