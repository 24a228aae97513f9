"""Reading a file of inputs to label: one sentence, or one tab-separated pair, per line.

`tunelab predict --input FILE` and the Predict screen's "label a file" both read it here, so both accept the same
files and refuse the same mistakes in the same words: a missing file, a directory, text that is not UTF-8, a line
with three fields or an empty half of a pair, a file mixing single sentences and pairs, a file with nothing to
label. A byte-order mark is not part of the first sentence; lines that are empty, or hold only spaces and
invisible characters, are skipped, and those that looked like text are listed so the caller can say so.
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import TuneLabError


def is_blank(text: str) -> bool:
    """True for text with nothing a model could read: only whitespace and invisible format characters
    (zero-width space and joiners, BOM, soft hyphen...), which tokenizers drop."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp") for ch in text)


CONLL_SUFFIXES = (".conll", ".conll2003", ".iob", ".bio")     # data.FORMATS' CoNLL files: one word a line


def _refuse_data_file(source: str, where: str, lines: list[str]) -> None:
    """A labelled data file given as input (a CoNLL file, JSON records) would be read as sentences made of its
    syntax, one per line (each word of a CoNLL file a sentence of its own, 'EU B-ORG' two words), and labelled
    without a word of warning: refuse it, naming the verb that reads it."""
    first = next((line.strip() for line in lines if not is_blank(line)), "")
    if Path(source).suffix.lower() in CONLL_SUFFIXES:
        what = "a CoNLL data file (one word and its tags a line)"
    elif first.startswith("{") and first.endswith("}"):
        import json

        try:
            record = json.loads(first)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        what = "JSON records (its first line is an object)"
    else:
        return
    raise TuneLabError(f"input {where} holds {what}, but predict --input reads plain text, one sentence a line; to "
                       f"score a data file use tunelab eval --data {source}")


@dataclass(frozen=True)
class PredictInput:
    numbers: list[int]             # the line number of each input
    texts: list[str]
    pairs: list[str] | None        # the second sentences, when every line is a tab-separated pair
    skipped: list[int]             # lines of only spaces or invisible characters that looked like text


def read_predict_input(source: str, *, stdin_allowed: bool = False) -> PredictInput:
    """The inputs in `source` (a path; "-" is standard input when `stdin_allowed`); TuneLabError naming the file
    and line for anything that cannot be labelled as it stands."""
    where = "'-' (standard input)" if source == "-" and stdin_allowed else repr(source)
    try:
        if source == "-" and stdin_allowed:
            raw = sys.stdin.read().split("\n")
        else:
            with open(Path(source).expanduser(), encoding="utf-8") as fh:  # universal newlines: \r\n read as \n
                raw = fh.read().split("\n")
    except FileNotFoundError:
        raise TuneLabError(f"input file {source!r} does not exist") from None
    except IsADirectoryError:
        raise TuneLabError(f"input {source!r} is a directory; give a text file with one sentence (or tab-separated "
                           f"pair) per line{', or - for standard input' if stdin_allowed else ''}") from None
    except UnicodeDecodeError:
        raise TuneLabError(f"input {where} is not UTF-8 text") from None
    except OSError as err:
        raise TuneLabError(f"cannot read {where}: {err.strerror or err}") from None
    if raw:
        raw[0] = raw[0].lstrip("\ufeff")
    _refuse_data_file(source, where, raw)
    numbers, parts, skipped = [], [], []
    for number, line in enumerate(raw, 1):
        if is_blank(line):
            if line.strip("\t "):
                skipped.append(number)
            continue
        fields = line.split("\t")
        if len(fields) > 2:
            raise TuneLabError(f"line {number} of {where} holds {len(fields)} tab-separated fields; give one sentence "
                               "or one pair per line")
        for i, field in enumerate(fields):
            if is_blank(field):
                which = "first sentence" if i == 0 else "second sentence of the pair"
                raise TuneLabError(f"line {number} of {where}: the {which} is empty")
        if parts and len(fields) != len(parts[0]):
            kinds = {1: "a single sentence", 2: "a tab-separated pair"}
            raise TuneLabError(f"line {number} of {where} is {kinds[len(fields)]} but line {numbers[0]} is "
                               f"{kinds[len(parts[0])]}; use one kind for the whole input")
        numbers.append(number)
        parts.append(fields)
    if not parts:
        invisible = " (some lines hold only invisible characters such as zero-width spaces)" if skipped else ""
        raise TuneLabError(f"input {where} holds no sentences{invisible}")
    pairs = [p[1] for p in parts] if len(parts[0]) == 2 else None
    return PredictInput(numbers, [p[0] for p in parts], pairs, skipped)
