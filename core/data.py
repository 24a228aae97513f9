"""Reading a dataset and mapping its columns through an equation.

`load_task_data` accepts the bundled demo set (`demo`), one local file (CSV, TSV, JSON, JSONL, Parquet), a
directory of train/validation/test files, explicit `split=path` pairs, or a hub dataset (`H:glue,cola`); it
returns the splits with the equation's columns checked, labels validated, and a seeded validation split held
out when the data has none. Called by fit, eval, summary, cat and the probing verbs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .equation import Equation, parse_equation
from .errors import TuneLabError

DEMO_NAME = "demo"
DEMO_EQUATION = "classify: label ~ sentence"
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}
TEXT_SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class TaskData:
    """The splits of a dataset as the equation sees them.

    `splits` maps a split name to a `datasets.Dataset` whose columns include the equation's inputs and label.
    `label_names` (classification) are the distinct label values as strings, sorted (ints numerically);
    `labeled` says per split whether it carries usable labels (GLUE test splits hold -1).
    """

    name: str
    equation: Equation
    splits: dict
    label_names: tuple[str, ...] = ()
    labeled: dict = field(default_factory=dict)
    held_out_validation: bool = False

    def split(self, name: str):
        if name not in self.splits:
            raise TuneLabError(f"split {name!r} is not in {self.name}; it has: {', '.join(self.splits)}")
        return self.splits[name]

    def eval_split_name(self) -> str:
        """The split scored during training: validation if there is one, else test."""
        for name in ("validation", "test"):
            if name in self.splits and self.labeled.get(name):
                return name
        raise TuneLabError(f"{self.name} has no labelled validation or test split to evaluate on")

    def sample(self, split: str, limit: int, seed: int) -> "TaskData":
        """This task with only `split`, cut to a seeded random sample of at most `limit` rows
        (files are often sorted by label, so the first rows would not do)."""
        import dataclasses

        ds = self.split(split)
        if len(ds) > limit:
            ds = ds.shuffle(seed=seed).select(range(limit))
        return dataclasses.replace(self, splits={split: ds})

    def labels(self, split: str) -> list:
        """The raw label values of a split, as a list."""
        return list(self.split(split)[self.equation.label])

    def texts(self, split: str) -> list:
        """The input text(s) of every row: strings, or (a, b) tuples for a pair equation."""
        ds = self.split(split)
        cols = [list(ds[c]) for c in self.equation.inputs]
        return list(zip(*cols)) if len(cols) == 2 else cols[0]


def demo_dir() -> Path:
    return Path(__file__).parent / "data" / "demo"


def load_task_data(
    data: str | None,
    eqn: str | Equation | None,
    *,
    columns: list[str] | None = None,
    seed: int = 42,
    validation_share: float = 0.1,
    hold_out: bool = True,
) -> TaskData:
    """Load `data` (see the module docstring) and check it against `eqn`.

    With `hold_out`, a dataset without a validation split gets a seeded `validation_share` of train.
    """
    data = (data or DEMO_NAME).strip()
    if eqn is None:
        if data != DEMO_NAME:
            raise TuneLabError("--eqn is required with --data, e.g. --eqn 'classify: label ~ sentence'")
        eqn = DEMO_EQUATION
    equation = eqn if isinstance(eqn, Equation) else parse_equation(eqn)
    raw, name = _load_raw(data, columns)
    splits = {SPLIT_ALIASES.get(k, k): v for k, v in raw.items()}
    for split_name, ds in splits.items():
        _check_columns(ds, equation, split_name, name)
        if len(ds) == 0:
            raise TuneLabError(f"split {split_name!r} of {name} is empty")
    labeled = {k: _has_labels(ds, equation) for k, ds in splits.items()}
    label_names = _label_names(splits, labeled, equation, name)
    held_out = False
    if hold_out and "validation" not in splits and "train" in splits and len(splits["train"]) >= 10:
        parts = splits["train"].train_test_split(test_size=validation_share, seed=seed)
        splits = {"train": parts["train"], "validation": parts["test"], **{k: v for k, v in splits.items() if k != "train"}}
        labeled["validation"] = labeled["train"]
        held_out = True
    return TaskData(name, equation, splits, label_names, labeled, held_out)


# ---------------------------------------------------------------- reading files and hub datasets

def _load_raw(data: str, columns: list[str] | None) -> tuple[dict, str]:
    if data == DEMO_NAME:
        return _load_files({s: demo_dir() / f"{s}.jsonl" for s in ("train", "validation", "test")}, None), "demo"
    if data.startswith(("H:", "hub:")):
        return _load_hub(data.split(":", 1)[1]), data
    if "=" in data and not Path(data).exists():
        files = {}
        for part in data.split(","):
            split, _, path = part.partition("=")
            if not path:
                raise TuneLabError(f"--data {data!r}: write explicit splits as train=PATH,validation=PATH")
            files[SPLIT_ALIASES.get(split.strip(), split.strip())] = Path(path.strip()).expanduser()
        return _load_files(files, columns), data
    path = Path(data).expanduser()
    if path.is_dir():
        return _load_files(_split_files_in(path), columns), data
    if path.is_file() or path.suffix.lower() in FORMATS or os.sep in data:
        return _load_files({"train": path}, columns), data
    return _load_hub(data), data


def _split_files_in(directory: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for child in sorted(directory.iterdir()):
        split = SPLIT_ALIASES.get(child.stem.lower())
        if split and child.suffix.lower() in FORMATS and split not in files:
            files[split] = child
    if "train" not in files and not files:
        raise TuneLabError(
            f"directory {str(directory)!r} holds no train/validation/test files "
            f"({', '.join(FORMATS)}); name them e.g. train.csv, validation.csv, test.csv"
        )
    return files


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise TuneLabError(f"data file {str(path)!r} does not exist")
    if not path.is_file():
        raise TuneLabError(f"data path {str(path)!r} is not a file")
    if path.suffix.lower() not in FORMATS:
        raise TuneLabError(f"data file {str(path)!r}: unknown format; use one of {', '.join(FORMATS)}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(TEXT_SAMPLE_BYTES)
    except OSError as err:
        raise TuneLabError(f"cannot read {str(path)!r}: {err.strerror}") from None
    if path.suffix.lower() == ".parquet":
        return
    if not head.strip():
        raise TuneLabError(f"data file {str(path)!r} is empty")
    try:
        # decode the whole file incrementally: a bad byte anywhere is reported before any work starts
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(path, "rb") as fh:
            while chunk := fh.read(TEXT_SAMPLE_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise TuneLabError(f"data file {str(path)!r} is not UTF-8 text (bad byte at offset {err.start} of a chunk); re-save it as UTF-8") from None


def _check_field_count(path: Path, columns: list[str], sep: str) -> None:
    """--columns must name every field of a headerless file (pandas would silently make the rest an index)."""
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        first = next(csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL), [])
    if first and len(first) != len(columns):
        raise TuneLabError(f"--columns names {len(columns)} columns but {str(path)!r} has {len(first)} fields per line")


def _load_files(files: dict[str, Path], columns: list[str] | None) -> dict:
    import datasets

    for path in files.values():
        _check_readable(path)
    kinds = {FORMATS[p.suffix.lower()] for p in files.values()}
    if len(kinds) > 1:
        raise TuneLabError("all split files must have the same format (CSV/TSV, JSON/JSONL or Parquet)")
    kind = kinds.pop()
    kwargs: dict = {}
    if kind == "csv":
        tsv = {p.suffix.lower() == ".tsv" for p in files.values()}
        if len(tsv) > 1:
            raise TuneLabError("mix of .csv and .tsv split files; use one delimiter")
        # QUOTE_NONE for TSV: GLUE/CoLA sentences contain bare quote characters.
        kwargs = {"sep": "\t", "quoting": 3} if tsv.pop() else {}
        kwargs["keep_default_na"] = False  # a sentence "NA" or "null" stays text
        if columns:
            for path in files.values():
                _check_field_count(path, columns, kwargs.get("sep", ","))
            kwargs["column_names"] = list(columns)
    elif columns:
        raise TuneLabError("--columns names the columns of a headerless CSV/TSV file; JSON and Parquet carry names")
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(kind, data_files={k: str(v) for k, v in files.items()}, **kwargs)
    except Exception as err:  # datasets wraps parse errors in several types
        cause = err.__cause__ or err
        if "corresponds to no data" in str(cause):
            raise TuneLabError(f"a split of {', '.join(str(p) for p in files.values())} is empty (no rows under the header)") from None
        raise TuneLabError(f"could not parse {', '.join(str(p) for p in files.values())}: {str(cause).splitlines()[0][:300]}") from None
    return dict(loaded)


def _load_hub(spec: str) -> dict:
    import datasets

    name, _, config = spec.partition(",")
    try:
        loaded = datasets.load_dataset(name.strip(), config.strip() or None)
    except Exception as err:
        from .models import hub_reachable

        if not hub_reachable():
            raise TuneLabError(
                f"dataset {spec!r} is not in the local datasets cache and the hub cannot be reached (offline?); "
                "point --data at local files (CSV, TSV, JSON, JSONL or Parquet) instead"
            ) from None
        raise TuneLabError(f"could not load hub dataset {spec!r}: {str(err).splitlines()[0][:300]}") from None
    return dict(loaded)


# ---------------------------------------------------------------- checking columns and labels

def _check_columns(ds, equation: Equation, split: str, name: str) -> None:
    for col in equation.inputs + equation.outputs:
        if col not in ds.column_names:
            if col in equation.outputs and split == "test" and all(c in ds.column_names for c in equation.inputs):
                continue  # an unlabelled test split is fine for prediction
            raise TuneLabError(
                f"column {col!r} named in the equation is not in split {split!r} of {name}; "
                f"it has: {', '.join(ds.column_names)}"
                + (" (if the file has no header row, name its columns with --columns a,b,c)" if _looks_headerless(ds.column_names) else "")
            )
    for col in equation.inputs:
        dtype = getattr(ds.features[col], "dtype", None)
        if dtype not in ("string", "large_string"):
            raise TuneLabError(f"input column {col!r} in split {split!r} of {name} holds {dtype or 'non-text'} values, not text")


def _looks_headerless(names: list[str]) -> bool:
    """Column names that read like data: numbers, sentences, pandas' 'Unnamed: 2' for an empty field."""
    return any(n.startswith("Unnamed:") or " " in n.strip() or n.strip().lstrip("-").replace(".", "", 1).isdigit() for n in names)


def _has_labels(ds, equation: Equation) -> bool:
    """False for a split without the label column or whose labels are all -1 (GLUE's hidden test labels)."""
    if equation.label not in ds.column_names:
        return False
    if type(ds.features[equation.label]).__name__ not in ("Value", "ClassLabel"):
        return True  # lists, dicts: _label_names says what is wrong with them
    values = ds.unique(equation.label)
    return not (len(values) == 1 and values[0] in (-1, None))


def _label_names(splits: dict, labeled: dict, equation: Equation, name: str) -> tuple[str, ...]:
    col = equation.label
    values: set = set()
    for split, ds in splits.items():
        if not labeled[split]:
            continue
        feature = ds.features[col]
        if equation.task == "classify" and type(feature).__name__ == "ClassLabel":
            return tuple(feature.names)
        dtype = getattr(feature, "dtype", None)
        if equation.task == "regress":
            if dtype is None or not dtype.startswith(("int", "uint", "float")):
                raise TuneLabError(f"regress needs numeric values in {col!r}; split {split!r} of {name} holds {dtype or 'non-scalar'} values")
            continue
        if dtype is None or dtype.startswith(("list", "struct")) or dtype == "null":
            raise TuneLabError(f"labels in {col!r} (split {split!r} of {name}) are neither ints nor strings")
        if dtype.startswith("float"):
            uniq = ds.unique(col)
            if any(v is None or v != int(v) for v in uniq):
                raise TuneLabError(
                    f"labels in {col!r} (split {split!r} of {name}) are fractional numbers; "
                    "use 'regress:' for a numeric target, or int/string labels to classify"
                )
            values.update(int(v) for v in uniq)
            continue
        values.update(v for v in ds.unique(col) if v is not None)
    if equation.task == "regress":
        return ()
    if all(isinstance(v, bool) for v in values):
        return tuple(str(v) for v in sorted(values))
    if all(isinstance(v, int) for v in values):
        return tuple(str(v) for v in sorted(v for v in values if v != -1))
    return tuple(sorted(str(v) for v in values))


def label_ids(values, label2id: dict[str, int], name: str, column: str) -> list[int]:
    """Map raw label values (ints, strings, bools) to class ids by their string form."""
    ids = []
    for v in values:
        key = str(int(v)) if isinstance(v, float) else str(v)
        if key not in label2id:
            raise TuneLabError(
                f"label {key!r} in column {column!r} of {name} is not one of the model's labels: {', '.join(label2id)}"
            )
        ids.append(label2id[key])
    return ids
