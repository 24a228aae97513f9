"""Reading a dataset and mapping its columns through an equation.

`load_task_data` accepts the bundled demo sets (`demo`, `demo-ner`), one local file (CSV, TSV, JSON, JSONL, Parquet,
CoNLL: one word per line, or SQuAD's nested JSON: core/squad_json.py), a directory of train/validation/test files, explicit `split=path` pairs, or a hub
dataset (`H:glue,cola`); it returns the splits with the equation's columns checked, labels validated, and a seeded validation split held
out when the data has none. Called by fit, eval, summary, cat and the probing verbs.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import strict_json
from .equation import Equation, parse_equation
from .errors import TuneLabError, some_of
from .tasks.base import task_for

DEMO_NAME = "demo"
DEMO_EQUATION = "classify: label ~ sentence"
DEMO_NER_NAME = "demo-ner"     # the bundled NER set (core/demo_ner.py writes it)
DEMO_QA_NAME = "demo-qa"       # the bundled extractive QA set (core/demo_qa.py writes it)
DEMO_FOLDERS = {DEMO_NER_NAME: "ner", DEMO_QA_NAME: "qa"}
DEMO_EQUATIONS = {DEMO_NAME: DEMO_EQUATION, DEMO_NER_NAME: "classify_tokens: ner_tags ~ tokens",
                  DEMO_QA_NAME: "classify_spans: answers ~ question + context"}
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet",
           ".conll": "conll", ".conll2003": "conll", ".iob": "conll", ".bio": "conll"}
CONLL_TEXT = ".txt"     # a CoNLL file too, but only when --columns names its columns (.txt alone says nothing)
# CoNLL columns when --columns names none, by how many a line has (the hub's names for CoNLL-2000 and CoNLL-2003)
CONLL_DEFAULT_COLUMNS = {1: ("tokens",), 2: ("tokens", "tags"), 3: ("tokens", "pos_tags", "chunk_tags"),
                         4: ("tokens", "pos_tags", "chunk_tags", "ner_tags")}
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}
TEXT_SAMPLE_BYTES = 1 << 20
FLOAT32_MAX = float(np.finfo(np.float32).max)   # ~3.4e38: TuneLab trains and scores regression labels in float32
FLOAT32_SQRT_MAX = FLOAT32_MAX ** 0.5            # ~1.8e19: a larger label's squared error is infinite in float32


@dataclass(frozen=True)
class TaskData:
    """The splits of a dataset as the equation sees them.

    `splits` maps a split name to a `datasets.Dataset` whose columns include the equation's inputs and label.
    `label_names` (classification) are the distinct label values as strings, sorted (ints numerically);
    `labeled` says per split whether it carries usable labels (GLUE test splits hold -1 in every row; -1 beside other
    values is an ordinary label).
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
        """The label values of a split, as a list: raw values, or class names for a ClassLabel column (hub
        datasets such as GLUE store ids 0..k-1 and the names beside them)."""
        ds = self.split(split)
        values = column_values(ds, self.equation.label)
        names = class_label_names(ds.features[self.equation.label])
        return values if names is None else [names[v] if isinstance(v, int) and 0 <= v < len(names) else v for v in values]

    def class_ids(self, split: str, label2id: dict[str, int], chunk: int = 100_000) -> np.ndarray:
        """The class id of every row's label under `label2id` (name -> id), read in Arrow `chunk` rows at a time;
        a label that is not one of the classes is refused, naming it."""
        ds = self.split(split)
        col = self.equation.label
        where = f"split {split!r} of {self.name}"
        parts = [class_ids(table.column(0), ds.features[col], label2id, where, col)
                 for table in _arrow_chunks(ds, [col], chunk)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def texts(self, split: str) -> list:
        """The input text(s) of every row: strings, or (a, b) tuples for a pair equation."""
        ds = self.split(split)
        cols = [column_values(ds, c) for c in self.equation.inputs]
        return list(zip(*cols)) if len(cols) == 2 else cols[0]

    def texts_of(self, table) -> list:
        """The inputs of an Arrow table of this task's rows (from `iter_tables`), as `texts` gives them: only one
        chunk is ever Python objects (a million rows as a list of str cost ten times their Arrow size)."""
        cols = [table.column(c).to_pylist() for c in self.equation.inputs]
        return list(zip(*cols)) if len(cols) == 2 else cols[0]

    def iter_tables(self, split: str, chunk: int = 20_000):
        """Arrow tables of the inputs and, for a labelled split, the label, `chunk` rows at a time in row order."""
        names = list(self.equation.inputs) + ([self.equation.label] if self.labeled.get(split) else [])
        yield from _arrow_chunks(self.split(split), names, chunk)


def _arrow_chunks(ds, names: list[str], chunk: int):
    """Arrow tables of `names` for `chunk` rows at a time, in the dataset's row order (indices mapping honoured)."""
    view = ds.select_columns(names).with_format("arrow")
    for start in range(0, len(view), chunk):
        yield view[start:start + chunk]


def column_values(ds, name: str) -> list:
    """One column of a datasets.Dataset as a list, read in one Arrow call: `list(ds[name])` would fetch it row by
    row (a minute for a million rows). Honours an indices mapping (after select, shuffle or a split)."""
    if len(ds) == 0:
        return []
    return ds.select_columns([name])[:][name]


def load_raw_splits(data: str, columns: list[str] | None = None) -> dict:
    """The splits of a data source as datasets.Dataset objects, before any equation is applied (for previews and
    column pickers): {split name: Dataset}. Raises TuneLabError for anything unreadable."""
    raw, _, _ = _load_raw(data, columns)
    return raw


def demo_dir(name: str = DEMO_NAME) -> Path:
    """The folder of a bundled demo set's train/validation/test.jsonl files."""
    return Path(__file__).parent / "demo" / DEMO_FOLDERS.get(name, "")


def demo_equation(data: str | None) -> str | None:
    """The equation a bundled demo set is read with when --eqn is not given; None for any other data."""
    return DEMO_EQUATIONS.get((data or DEMO_NAME).strip())


def load_task_data(
    data: str | None,
    eqn: str | Equation | None,
    *,
    columns: list[str] | None = None,
    seed: int = 42,
    validation_share: float = 0.1,
    hold_out: bool = True,
    minus_one_is_a_label: bool = False,
) -> TaskData:
    """Load `data` (see the module docstring) and check it against `eqn`.

    With `hold_out`, a dataset without a validation split gets a seeded `validation_share` of train. With
    `minus_one_is_a_label` (a model trained on a -1/1 task), a split whose labels are all -1 is labelled.
    """
    data = (data or DEMO_NAME).strip()
    if eqn is None:
        eqn = demo_equation(data)
        if eqn is None:
            raise TuneLabError("--eqn is required with --data, e.g. --eqn 'classify: label ~ sentence'")
    equation = eqn if isinstance(eqn, Equation) else parse_equation(eqn)
    raw, name, where = _load_raw(data, columns)
    splits = {SPLIT_ALIASES.get(k, k): v for k, v in raw.items()}
    task = task_for(equation)
    for split_name, ds in splits.items():
        check_columns_present(ds, equation, split_name, name)
        if len(ds) == 0:
            raise TuneLabError(f"split {split_name!r} of {name} is empty")
        task.check_columns(ds, equation, split_name, name, where, columns)
    labeled = task.labelled_splits(splits, equation, minus_one_is_a_label)
    for split_name, ds in splits.items():
        task.check_split(ds, equation, split_name, where, labeled[split_name])
    label_names = task.label_names(splits, labeled, equation, name)
    held_out = False
    if hold_out and "validation" not in splits and "train" in splits and len(splits["train"]) >= 10:
        parts = splits["train"].train_test_split(test_size=validation_share, seed=seed)
        splits = {"train": parts["train"], "validation": parts["test"], **{k: v for k, v in splits.items() if k != "train"}}
        labeled["validation"] = labeled["train"]
        held_out = True
    return TaskData(name, equation, splits, label_names, labeled, held_out)


def absolute_data_spec(data: str) -> str:
    """The same --data with local paths made absolute, so a run's run.json works from any directory
    ("train=a.tsv,validation=b.tsv" -> each path absolute; demo and hub ids unchanged)."""
    if not data or data in DEMO_EQUATIONS or data.startswith(("H:", "hub:")):
        return data
    if "=" in data and not Path(data).exists():
        parts = []
        for part in data.split(","):
            split, sep, path = (p.strip() for p in part.partition("="))
            parts.append(f"{split}={Path(path).expanduser().resolve()}" if sep and path else part)
        return ",".join(parts)
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


# ---------------------------------------------------------------- reading files and hub datasets

def _load_raw(data: str, columns: list[str] | None) -> tuple[dict, str, "_Where"]:
    if data in DEMO_EQUATIONS:
        _refuse_columns(columns, "the demo data")
        files = {s: demo_dir(data) / f"{s}.jsonl" for s in ("train", "validation", "test")}
        return _load_files(files, None), data, _Where(files, data)
    if data.startswith(("H:", "hub:")):
        _refuse_columns(columns, f"hub dataset {data!r}")
        return _load_hub(data.split(":", 1)[1]), data, _Where({}, data)
    if "=" in data and not Path(data).exists():
        files = _explicit_splits(data)
        return _load_files(files, columns), data, _Where(files, data, headerless=bool(columns))
    path = Path(data).expanduser()
    if path.is_dir():
        files = _split_files_in(path, columns)
    elif path.is_file() or path.suffix.lower() in FORMATS or os.sep in data:
        files = {"train": path}
    else:
        _refuse_columns(columns, f"hub dataset {data!r}")
        return _load_hub(data), data, _Where({}, data)
    return _load_files(files, columns), data, _Where(files, data, headerless=bool(columns))


def _refuse_columns(columns: list[str] | None, what: str) -> None:
    if columns:
        raise TuneLabError(
            f"--columns names the columns of a headerless CSV/TSV or CoNLL file, but {what} has its own column names; "
            "drop --columns"
        )


def _explicit_splits(data: str) -> dict[str, Path]:
    """`train=a.csv,validation=b.csv`: each split once, under a name TuneLab knows."""
    files: dict[str, Path] = {}
    given: dict[str, str] = {}
    for part in data.split(","):
        split, _, path = (p.strip() for p in part.partition("="))
        if not path:
            raise TuneLabError(f"--data {data!r}: write explicit splits as train=PATH,validation=PATH")
        canonical = SPLIT_ALIASES.get(split.lower())
        if canonical is None:
            raise TuneLabError(f"--data {data!r}: unknown split {split!r}; use train, validation (or dev, val, valid) and test")
        if canonical in files:
            if given[canonical] == split:
                raise TuneLabError(f"--data {data!r} gives split {split!r} twice; give each split once")
            raise TuneLabError(
                f"--data {data!r} gives both {given[canonical]!r} and {split!r}, which are the same {canonical} split; give it once"
            )
        files[canonical] = Path(path).expanduser()
        given[canonical] = split
    return files


def _format_of(path: Path, columns: list[str] | None = None) -> str | None:
    """The reader for a file by its extension ('csv', 'json', 'parquet', 'conll'), or None; a .txt file is CoNLL
    when --columns names its columns."""
    suffix = path.suffix.lower()
    return FORMATS.get(suffix) or ("conll" if suffix == CONLL_TEXT and columns else None)


def _split_files_in(directory: Path, columns: list[str] | None = None) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for child in sorted(directory.iterdir()):
        split = SPLIT_ALIASES.get(child.stem.lower())
        if split and _format_of(child, columns):
            if split in files:
                raise TuneLabError(
                    f"directory {str(directory)!r} holds two {split} files, {files[split].name} and {child.name}; "
                    "keep one, or name the files with --data train=PATH,validation=PATH"
                )
            files[split] = child
    if not files:
        raise TuneLabError(
            f"directory {str(directory)!r} holds no train/validation/test files "
            f"({', '.join(FORMATS)}); name them e.g. train.csv, validation.csv, test.csv"
        )
    return files


def _check_readable(path: Path, columns: list[str] | None = None) -> None:
    if not path.exists():
        if path.is_symlink():
            raise TuneLabError(f"data file {str(path)!r} is a symbolic link that leads nowhere (to a missing file, or in a loop)")
        raise TuneLabError(f"data file {str(path)!r} does not exist")
    if not path.is_file():
        raise TuneLabError(f"data path {str(path)!r} is not a file")
    if _format_of(path, columns) is None:
        hint = (" (a CoNLL file, one word per line? name its columns with --columns, e.g. --columns tokens,ner_tags)"
                if path.suffix.lower() == CONLL_TEXT else "")
        raise TuneLabError(f"data file {str(path)!r}: unknown format; use one of {', '.join(FORMATS)}{hint}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(TEXT_SAMPLE_BYTES)
    except OSError as err:
        raise TuneLabError(f"cannot read {str(path)!r}: {err.strerror}") from None
    if path.suffix.lower() == ".parquet":
        if not head:
            raise TuneLabError(f"data file {str(path)!r} is empty")
        if not head.startswith(b"PAR1") or path.stat().st_size < 12:
            raise TuneLabError(f"data file {str(path)!r} is not a Parquet file (it lacks Parquet's PAR1 header)")
        return
    if not head.strip():
        raise TuneLabError(f"data file {str(path)!r} is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TuneLabError(f"data file {str(path)!r} is UTF-16 text; re-save it as UTF-8")
    if b"\x00" in head:
        raise TuneLabError(f"data file {str(path)!r} looks binary (it holds NUL bytes), not {path.suffix.lower()[1:].upper()} text")
    # decode the whole file incrementally: a bad byte anywhere is reported before any work starts
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(TEXT_SAMPLE_BYTES):
                decoder.decode(chunk)
                line += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        line += err.object[: err.start].count(b"\n")  # bytes held over from the last chunk never include a newline
        raise TuneLabError(
            f"data file {str(path)!r} is not UTF-8 text (line {line} has the byte 0x{err.object[err.start]:02x}); re-save it as UTF-8"
        ) from None


def _csv_records(path: Path, sep: str):
    """(line number, fields) of each non-blank record, read the way pandas reads the file (blank lines skipped)."""
    import csv
    import sys

    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep, quoting=quoting)
        start = 1
        try:
            for fields in reader:
                if fields:
                    yield start, fields
                start = reader.line_num + 1
        except csv.Error as err:
            raise TuneLabError(f"{path} line {reader.line_num}: {err}") from None


def _extra_field_hint(sep: str) -> str:
    return " (a tab inside a text field?)" if sep == "\t" else " (a comma inside an unquoted text field? quote such fields)"


def _check_csv_start(path: Path, columns: list[str] | None, sep: str) -> None:
    """The first two records: a header where --columns says there is none, --columns of the wrong length, and a
    first data row with more fields than the header (pandas would silently shift the columns into an index)."""
    records = _csv_records(path, sep)
    first, second = next(records, None), next(records, None)
    records.close()
    if first is None:
        return
    if not columns:
        seen: set[str] = set()
        for field in first[1]:
            if field in seen:                   # pandas would rename the second one 'label.1' and read the first
                raise TuneLabError(f"{path} line {first[0]}: the header names column {field!r} twice; rename one")
            seen.add(field)
    if columns:
        given = [c.lower() for c in columns]
        found = [f.strip().lower() for f in first[1]]
        if sorted(found) == sorted(given):
            raise TuneLabError(
                f"{path} already has a header row ({some_of(first[1], 20)}); drop --columns, which names the columns of a file without one"
            )
        if len(first[1]) != len(columns):
            raise TuneLabError(f"--columns names {len(columns)} columns but {str(path)!r} has {len(first[1])} fields per line")
    elif second is not None and len(second[1]) > len(first[1]):
        raise TuneLabError(
            f"{path} line {second[0]}: {len(second[1])} fields, but the header has {len(first[1])}{_extra_field_hint(sep)}"
        )


def _load_files(files: dict[str, Path], columns: list[str] | None) -> dict:
    for path in files.values():
        _check_readable(path, columns)
    kinds = {_format_of(p, columns) for p in files.values()}
    if len(kinds) > 1:
        raise TuneLabError("all split files must have the same format (CSV/TSV, JSON/JSONL, Parquet or CoNLL)")
    kind = kinds.pop()
    if kind == "conll":
        return _load_conll(files, columns)
    kwargs: dict = {}
    sep = ","
    if kind == "csv":
        tsv = {p.suffix.lower() == ".tsv" for p in files.values()}
        if len(tsv) > 1:
            raise TuneLabError("mix of .csv and .tsv split files; use one delimiter")
        # QUOTE_NONE for TSV: GLUE/CoLA sentences contain bare quote characters.
        if tsv.pop():
            sep = "\t"
            kwargs = {"sep": "\t", "quoting": 3}
        kwargs["keep_default_na"] = False  # a sentence "NA" or "null" stays text
        for path in files.values():
            _check_csv_start(path, columns, sep)
        if columns:
            kwargs["column_names"] = list(columns)
    elif columns:
        raise TuneLabError("--columns names the columns of a headerless CSV/TSV or CoNLL file; JSON and Parquet files carry their own names, so drop --columns")
    return {split: _load_one(kind, split, path, kwargs, sep, columns) for split, path in files.items()}


def _load_one(kind: str, split: str, path: Path, kwargs: dict, sep: str, columns: list[str] | None):
    """One split file, loaded alone (so a parse error names its file) with the libraries' own logging silenced."""
    import datasets
    from tqdm import tqdm

    if kind == "json" and path.suffix.lower() == ".json":
        from .squad_json import read_squad_json

        squad = read_squad_json(path)          # SQuAD's nested JSON, flattened to the hub's rows
        if squad is not None:
            return squad
    datasets.disable_progress_bars()
    # tqdm's thread_map (datasets reads files with it) creates tqdm's class lock when there is none and deletes it
    # when done; a second thread (the TUI loads data and models in parallel workers) then meets a tqdm class
    # without `_lock`, and the file was reported as "could not parse ...: type object 'tqdm' has no attribute
    # '_lock'". A lock made here, once, on the base class is kept for good (thread_map restores an existing one).
    tqdm.get_lock()
    try:
        with _quiet():
            # the path is a literal file: datasets reads data_files as glob patterns, so `data[1]/` or `a*b.csv`
            # would match nothing (StopIteration) or other files
            ds = datasets.load_dataset(kind, data_files={split: glob.escape(str(path))}, split=split, **kwargs)
    except TuneLabError:
        raise
    except Exception as err:  # datasets wraps parse errors in several types
        cause = err.__cause__ or err
        if "corresponds to no data" in str(cause):
            raise TuneLabError(f"data file {str(path)!r} is empty (no rows under the header)") from None
        found = _diagnose(path, kind, sep, columns)
        if found:
            raise TuneLabError(found) from None
        raise TuneLabError(f"could not parse {path}: {(str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]}") from None
    if kind != "csv":
        from .squad_json import type_empty_answers

        ds = type_empty_answers(ds)     # a split of unanswerable questions only: its empty lists typed
    return ds


# ---------------------------------------------------------------- CoNLL files

def conll_sentences(path: Path):
    """(first line number, number of columns of each of its lines) of every sentence of a CoNLL file: one word per
    line, whitespace-separated columns, blank lines between sentences, -DOCSTART- lines skipped (as datasets'
    own CoNLL reader reads it)."""
    start, widths = 0, []
    with open(path, encoding="utf-8-sig") as fh:       # text mode: Windows line ends read as one
        for number, line in enumerate(fh, 1):
            fields = line.split()
            if not fields or fields[0].startswith("-DOCSTART-"):
                if widths and not fields:
                    yield start, widths
                    start, widths = 0, []
                continue
            if not widths:
                start = number
            widths.append((number, len(fields)))
    if widths:
        yield start, widths


def _conll_columns(files: dict[str, Path], columns: list[str] | None) -> dict[str, list[str]]:
    """The column names of each CoNLL split file: --columns, else by the number of columns (CONLL_DEFAULT_COLUMNS).
    A file of words alone (one column, a test file without tags) gets the first name. A line with another number
    of columns than its file's first is refused, naming its file and line, as is a file whose count differs from
    --columns (or from the other files)."""
    names: dict[str, list[str]] = {}
    first: tuple[Path, int, int] | None = None           # the first tagged file: path, line, width
    for split, path in files.items():
        width, start, sentences = None, 0, 0
        for _, widths in conll_sentences(path):
            sentences += 1
            for number, found in widths:
                if width is None:
                    width, start = found, number
                elif found != width:
                    raise TuneLabError(f"{path} line {number}: {found} columns, but {path.name} line {start} has "
                                       f"{width}; a CoNLL line holds one word and its tags, separated by spaces or tabs"
                                       + _odd_space_note(path, (start, number)))
        if not sentences:
            raise TuneLabError(f"data file {str(path)!r} holds no sentences (CoNLL: one word per line, a blank line "
                               "between sentences)")
        expected = len(columns) if columns else (first[2] if first else None)
        if width == 1 and (expected or 1) > 1:
            names[split] = [columns[0] if columns else "tokens"]     # words only: unlabelled
            continue
        if expected is not None and width != expected:
            whose = f"--columns names {expected}" if columns else f"{first[0].name} line {first[1]} has {first[2]}"
            raise TuneLabError(f"{path} line {start}: {width} columns, but {whose}; a CoNLL line holds one word and "
                               "its tags, separated by spaces or tabs" + _odd_space_note(path, (start,)))
        first = first or (path, start, width)
        if columns:
            names[split] = list(columns)
        elif width in CONLL_DEFAULT_COLUMNS:
            names[split] = list(CONLL_DEFAULT_COLUMNS[width])
        else:
            raise TuneLabError(f"{path} has {width} columns per line; name them with --columns, e.g. "
                               f"--columns tokens,{','.join(f'col{i}' for i in range(2, width + 1))}")
    return names


def _odd_space_note(path: Path, numbers) -> str:
    """' (line N holds a no-break space U+00A0, ...)' when one of those lines holds a space other than ' ' or a tab:
    it separates columns too (as in datasets' reader), so a word 'New York' written with one counts as two."""
    wanted = set(numbers)
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if number in wanted:
                odd = next((c for c in line if c.isspace() and c not in " \t\r\n"), None)
                if odd is not None:
                    import unicodedata

                    return (f" (line {number} holds a {unicodedata.name(odd, 'space').lower()} U+{ord(odd):04X}, "
                            "which separates columns too: a word may not contain one)")
            if number >= max(wanted):
                break
    return ""


def _load_conll(files: dict[str, Path], columns: list[str] | None) -> dict:
    """CoNLL split files through datasets' own CoNLL builder, each sentence one row of list columns."""
    import datasets
    from tqdm import tqdm

    if columns and len(set(columns)) != len(columns):
        raise TuneLabError(f"--columns names a column twice ({', '.join(columns)}); give each column its own name")
    names = _conll_columns(files, columns)
    datasets.disable_progress_bars()
    tqdm.get_lock()                     # see _load_one
    out = {}
    for split, path in files.items():
        try:
            with _quiet():
                out[split] = datasets.load_dataset("conll", data_files={split: glob.escape(str(path))}, split=split,
                                                   column_names=names[split], encoding="utf-8-sig")
        except Exception as err:
            cause = err.__cause__ or err
            raise TuneLabError(f"could not parse {path}: {(str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]}") from None
    return out


class _quiet:
    """Silence the datasets logger (it logs 'Failed to read file ...' before raising) and Python warnings."""

    def __enter__(self):
        import logging
        import warnings

        self._logger = logging.getLogger("datasets")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL + 1)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc):
        self._warnings.__exit__(*exc)
        self._logger.setLevel(self._level)
        return False


def _diagnose(path: Path, kind: str, sep: str, columns: list[str] | None) -> str | None:
    """After a parse error: the first line that is wrong, in words, or None if none is found."""
    if kind == "csv":
        expected = len(columns) if columns else None
        for line, fields in _csv_records(path, sep):
            if expected is None:
                expected = len(fields)
            elif len(fields) > expected:
                whose = "--columns names" if columns else "the header has"
                return f"{path} line {line}: {len(fields)} fields, but {whose} {expected}{_extra_field_hint(sep)}"
        return None
    if kind == "json":
        return _diagnose_json(path)
    return None


def json_kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "null"


def _diagnose_json(path: Path) -> str | None:
    import json
    import math

    def no_constants(name):
        raise ValueError(f"{name} is not valid JSON; write null for a missing value")

    text = path.read_text(encoding="utf-8-sig")
    try:
        whole = strict_json.loads(text, parse_constant=no_constants)
    except ValueError:
        whole = None
    if text.lstrip().startswith("["):
        if whole is not None:
            return None
        try:
            strict_json.loads(text, parse_constant=no_constants)
        except json.JSONDecodeError as err:
            return f"{path} line {err.lineno}: not valid JSON ({err.msg})"
        except ValueError as err:
            return f"{path}: {err}"
        return None
    kinds: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            record = strict_json.loads(raw, parse_constant=no_constants)
        except json.JSONDecodeError as err:
            return None if whole is not None else f"{path} line {number}: not valid JSON ({err.msg} at column {err.colno})"
        except ValueError as err:
            return f"{path} line {number}: {err}"
        if not isinstance(record, dict):
            return None if whole is not None else f"{path} line {number}: {json_kind(record)}, not a JSON object {{...}}"
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                return f"{path} line {number}: {key!r} holds a number too large to store ({value})"
            kind = json_kind(value)
            if kind == "null":
                continue
            seen = kinds.setdefault(key, (kind, number))
            if seen[0] != kind:
                return f"{path} line {number}: {key!r} is {kind}, but {seen[0]} on line {seen[1]}; use one type per field"
    return None


class _Where:
    """Names a row the way the user finds it: 'train.tsv line 17' for local files, 'row 17 of split ...' otherwise.

    Line numbers are worked out only when a row is reported, by reading the file again."""

    def __init__(self, files: dict[str, Path], name: str, *, headerless: bool = False):
        self.files, self.name, self.headerless = files, name, headerless

    def record(self, split: str, row: int) -> tuple[str, list[str] | None]:
        """Where row `row` (0-based) of `split` is, and its raw fields for a CSV/TSV file."""
        path = self.files.get(split)
        if path is None:
            return f"row {row + 1} of split {split!r} of {self.name}", None
        suffix = path.suffix.lower()
        try:
            if _format_of(path, [""]) == "conll":
                for i, (start, _) in enumerate(conll_sentences(path)):
                    if i == row:
                        return f"{path} line {start}", None
            elif FORMATS.get(suffix) == "csv":
                skip = 0 if self.headerless else 1
                for i, (line, fields) in enumerate(_csv_records(path, "\t" if suffix == ".tsv" else ",")):
                    if i - skip == row:
                        return f"{path} line {line}", fields
            elif suffix in (".json", ".jsonl"):
                with open(path, encoding="utf-8-sig") as fh:
                    if fh.read(TEXT_SAMPLE_BYTES).lstrip().startswith("["):
                        return f"{path} record {row + 1}", None
                    fh.seek(0)
                    i = -1
                    for number, raw in enumerate(fh, 1):
                        i += bool(raw.strip())
                        if i == row:
                            return f"{path} line {number}", None
        except (OSError, TuneLabError):
            pass
        return f"{path} row {row + 1}", None

    def __call__(self, split: str, row: int) -> str:
        return self.record(split, row)[0]


def _load_hub(spec: str) -> dict:
    import datasets

    name, _, config = spec.partition(",")
    try:
        with _quiet():
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

def check_columns_present(ds, equation: Equation, split: str, name: str) -> None:
    """Refuse an equation naming a column the split lacks (a test split may lack the label)."""
    for col in equation.inputs + equation.outputs:
        if col not in ds.column_names:
            alike = [c for c in ds.column_names if visible_label(c) == visible_label(col)]
            if alike:                              # 'label\u200b' or 'label ': listed, it would look like the one asked for
                raise TuneLabError(
                    f"column {col!r} named in the equation is not in split {split!r} of {name}, but its column "
                    f"{ascii(alike[0])} differs from it only by spaces or invisible characters; rename that column"
                )
            if col in equation.outputs and split == "test" and all(c in ds.column_names for c in equation.inputs):
                continue  # an unlabelled test split is fine for prediction
            raise TuneLabError(
                f"column {col!r} named in the equation is not in split {split!r} of {name}; "
                f"it has: {some_of(ds.column_names, 20)}"
                + (" (if the file has no header row, name its columns with --columns a,b,c)" if looks_headerless(ds.column_names) else "")
            )
# blank to a reader: nothing, whitespace, control and format characters (zero-width space U+200B, BOM U+FEFF, ...)
BLANK = r"^[\s\p{Z}\p{Cc}\p{Cf}]*$"
BLANK_OR_NAN = r"^[\s\p{Z}\p{Cc}\p{Cf}]*(?i:nan)?[\s\p{Z}\p{Cc}\p{Cf}]*$"
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def shorten(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_true(mask) -> int:
    """Index of the first true (or null) entry of a boolean Arrow array, or -1."""
    import pyarrow.compute as pc

    return pc.index(pc.fill_null(mask, True), True).as_py()


def short_line_note(fields: list[str] | None, ds) -> str:
    if fields is not None and len(fields) < len(ds.column_names):
        return f" (the line has {len(fields)} of {len(ds.column_names)} fields)"
    return ""










def looks_headerless(names: list[str]) -> bool:
    """Column names that read like data: numbers, sentences, pandas' 'Unnamed: 2' for an empty field."""
    return any(n.startswith("Unnamed:") or " " in n.strip() or n.strip().lstrip("-").replace(".", "", 1).isdigit() for n in names)






def is_minus_one(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == -1



def hidden_labels_note(task: "TaskData", split: str) -> str:
    """' (every label in split ... is -1, ...)' for a split read as unlabelled because all its labels are -1 (GLUE's
    convention for hidden test labels), ' (every label ... is empty)' for one whose label column is empty, else '':
    what a refusal adds so that a split with the label column yet no labels is not a mystery."""
    col = task.equation.label
    ds = task.splits.get(split)
    if ds is None or task.labeled.get(split) or col not in ds.column_names or not len(ds):
        return ""
    if type(ds.features[col]).__name__ not in ("Value", "ClassLabel"):
        return ""
    first = ds[0][col]
    if first is None or first == "":
        return f" (every label in split {split!r} is empty)"
    if not is_minus_one(first):
        return ""
    return f" (every label in split {split!r} is -1, which marks hidden labels as in GLUE's test splits)"




def visible_label(text: str) -> str:
    """Text as a reader sees it: Unicode-normalised (NFC), format characters (zero-width space U+200B, BOM U+FEFF,
    direction marks U+200E/U+200F, ...) and control characters dropped, runs of spaces (no-break spaces too) made
    one, none at the ends. Two labels with the same key look the same in every table; two inputs with the same
    key are the same input. About a microsecond for a short ASCII text."""
    if text.isascii() and text.isprintable():
        return " ".join(text.split())
    import unicodedata

    return " ".join(unicodedata.normalize("NFC", text.translate(_invisible_characters())).split())


def _invisible_characters() -> dict:
    """str.translate's table that drops every format (Cf) and non-space control (Cc) character."""
    global _INVISIBLE
    if _INVISIBLE is None:
        import unicodedata

        planes = list(range(0x20000)) + list(range(0xE0000, 0xE1000))    # where Cf and Cc characters live
        _INVISIBLE = {c: None for c in planes
                      if unicodedata.category(chr(c)) == "Cf" or (unicodedata.category(chr(c)) == "Cc" and not chr(c).isspace())}
    return _INVISIBLE


_INVISIBLE: dict | None = None


def class_label_names(feature) -> list[str] | None:
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


def class_ids(values, feature, label2id: dict[str, int], name: str, column: str) -> np.ndarray:
    """Class ids (int64) of an Arrow array of labels from a column of type `feature`: a ClassLabel's ids through
    its names, string and int labels in one Arrow lookup by their string form (what `label_ids` does row by
    row); anything else, or a value that is not a class, goes row by row so the error names the value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = class_label_names(feature)
    dtype = str(getattr(feature, "dtype", ""))
    if type(feature).__name__ == "Json":      # JSON rows typed one by one, stored as JSON text: decode each
        decoded = [None if v is None else feature.decode_example(v) for v in values.to_pylist()]
        return np.asarray(label_ids(decoded, label2id, name, column), dtype=np.int64)
    if names is not None:
        known = pc.and_(pc.greater_equal(values, 0), pc.less(values, len(names)))
        if not pc.all(pc.fill_null(known, False)).as_py():   # -1 (GLUE's hidden label) or null among the labels
            named = [names[v] if v is not None and 0 <= v < len(names) else v for v in values.to_pylist()]
            return np.asarray(label_ids(named, label2id, name, column), dtype=np.int64)
        values, dtype = pc.take(pa.array(names, pa.string()), values), "string"
    if dtype in ("string", "large_string") or dtype.startswith(("int", "uint")):
        found = pc.index_in(pc.cast(values, pa.string()), value_set=pa.array(list(label2id), pa.string()))
        if not found.null_count:
            lookup = np.fromiter(label2id.values(), dtype=np.int64, count=len(label2id))
            return lookup[found.to_numpy(zero_copy_only=False)]
    return np.asarray(label_ids(values.to_pylist(), label2id, name, column), dtype=np.int64)


def label_ids(values, label2id: dict[str, int], name: str, column: str) -> list[int]:
    """Map raw label values (ints, strings, bools) to class ids by their string form."""
    ids = []
    for v in values:
        key = str(int(v)) if isinstance(v, float) else str(v)
        if key not in label2id:
            raise TuneLabError(
                f"label {key!r} in column {column!r} of {name} is not one of the model's labels: {some_of(label2id)}"
            )
        ids.append(label2id[key])
    return ids
