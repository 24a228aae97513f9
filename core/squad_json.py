"""Reading SQuAD's own nested JSON (v1.1 and v2.0) into the flat rows of the hub's `squad` / `squad_v2`.

SQuAD ships one .json file per split: `{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}`. The hub flattens it to one
row per question: `id, title, question, context, answers: {"text": [...], "answer_start": [...]}`, an unanswerable
(v2) question having empty lists. `read_squad_json` gives that shape as a datasets.Dataset, so the nested file and
the hub's flat JSON/JSONL/Parquet read the same from there on.

A file is taken as SQuAD's by its structure: a .json file whose top level is an object with a "data" list of
objects holding "paragraphs" (or "qas", a paragraph level left out, which is then refused). A missing level, a
question without an id, text or answers, and an id used twice are refused in one line naming the file and the
place (`data[0].paragraphs[3].qas[1]`) or the id. Whether each answer_start points at its text is the
classify_spans task's check (core/squad_metrics.check_answers), not the reader's.

Called by core/data.py for every .json split file (and `type_empty_answers` for every JSON and Parquet split).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import strict_json
from .errors import TuneLabError

SNIFF_BYTES = 4096


def features():
    """The hub's squad/squad_v2 columns."""
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"), "title": datasets.Value("string"),
        "context": datasets.Value("string"), "question": datasets.Value("string"),
        "answers": {"text": datasets.List(datasets.Value("string")),
                    "answer_start": datasets.List(datasets.Value("int32"))},
    })


def read_squad_json(path: Path):
    """The questions of SQuAD-format `path` as a datasets.Dataset in the hub's flat shape, or None when the file is
    not SQuAD's nested JSON (JSON lines, a list of rows, damaged JSON: the ordinary reader takes it from there)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return None
    try:
        doc = strict_json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not is_squad(doc):
        return None
    import datasets

    return datasets.Dataset.from_dict(flatten(doc, str(path)), features=features())


def type_empty_answers(ds):
    """`ds` with a flat `answers` column ({"text": [...], "answer_start": [...]}) whose lists are all empty (a split
    of unanswerable v2 questions) typed as strings and ints: JSON gives such lists no element type (null), and the
    split would then not read like the others."""
    import datasets

    found = ds.features.get("answers")
    if not isinstance(found, dict) or set(found) != {"text", "answer_start"}:
        return ds
    wanted = dict(found)
    for key, kind in (("text", "string"), ("answer_start", "int64")):
        inner = found[key]
        if isinstance(inner, datasets.List) and getattr(inner.feature, "dtype", None) == "null":
            wanted[key] = datasets.List(datasets.Value(kind))
    return ds if wanted == found else ds.cast_column("answers", wanted)


def is_squad(doc) -> bool:
    """Whether a parsed JSON document has SQuAD's nested shape (see the module docstring)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    return (isinstance(data, list) and bool(data)
            and any(isinstance(a, dict) and ("paragraphs" in a or "qas" in a) for a in data))


def flatten(doc: dict, name: str) -> dict[str, list]:
    """The columns of SQuAD document `doc` (from file `name`, for messages), one row per question."""
    cols: dict[str, list] = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    seen: dict[str, str] = {}
    for i, article in enumerate(doc["data"]):
        where = f"data[{i}]"
        if not isinstance(article, dict):
            _refuse(name, where, "is not an object (an article with a title and paragraphs)")
        title = article.get("title", "")
        if not isinstance(title, str):
            _refuse(name, where, f"has a title that is not text ({title!r})")
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list):
            _refuse(name, where, _missing("paragraphs", "list", paragraphs) + (" (its questions sit one level up: "
                    "SQuAD puts them in paragraphs[].qas)" if "qas" in article else ""))
        for j, paragraph in enumerate(paragraphs):
            where = f"data[{i}].paragraphs[{j}]"
            if not isinstance(paragraph, dict):
                _refuse(name, where, "is not an object (a context with its qas)")
            context = paragraph.get("context")
            if not isinstance(context, str):
                _refuse(name, where, _missing("context", "string", context))
            qas = paragraph.get("qas")
            if not isinstance(qas, list):
                _refuse(name, where, _missing("qas", "list", qas))
            for k, qa in enumerate(qas):
                where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                if not isinstance(qa, dict):
                    _refuse(name, where, "is not an object (a question with its id and answers)")
                qid = qa.get("id")
                if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid) == "":
                    _refuse(name, where, _missing("id", "string", qid))
                qid = str(qid)
                where = f"{where} (id {qid!r})"
                if qid in seen:
                    raise TuneLabError(f"{name}: id {qid!r} is used twice, at {seen[qid]} and "
                                       f"data[{i}].paragraphs[{j}].qas[{k}]; give each question its own id")
                seen[qid] = f"data[{i}].paragraphs[{j}].qas[{k}]"
                question = qa.get("question")
                if not isinstance(question, str):
                    _refuse(name, where, _missing("question", "string", question))
                impossible = qa.get("is_impossible", False)
                if not isinstance(impossible, bool):
                    _refuse(name, where, f"has is_impossible {impossible!r}; write true or false")
                answers = qa.get("answers", [] if impossible else None)
                if not isinstance(answers, list):
                    _refuse(name, where, _missing("answers", "list", answers))
                if impossible and answers:
                    _refuse(name, where, f"is_impossible but has {len(answers)} answer(s); an unanswerable "
                            "question has \"answers\": [] (SQuAD v2 keeps guesses in \"plausible_answers\")")
                texts, starts = [], []
                for n, answer in enumerate(answers):
                    text = answer.get("text") if isinstance(answer, dict) else None
                    start = answer.get("answer_start") if isinstance(answer, dict) else None
                    if not isinstance(text, str):
                        _refuse(name, where, f"answers[{n}] has no \"text\"")
                    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < 2**31:
                        _refuse(name, where, f"answers[{n}] has no \"answer_start\" character offset"
                                + (f" ({start!r})" if start is not None else ""))
                    texts.append(text)
                    starts.append(start)
                cols["id"].append(qid)
                cols["title"].append(title)
                cols["context"].append(context)
                cols["question"].append(question)
                cols["answers"].append({"text": texts, "answer_start": starts})
    if not cols["id"]:
        raise TuneLabError(f"{name}: this SQuAD file holds no questions (data[].paragraphs[].qas[] are all empty)")
    return cols


def _missing(key: str, kind: str, found) -> str:
    if found is None:
        return f"has no \"{key}\" {kind}"
    return f"has a \"{key}\" of JSON type {_json_type(found)}, where SQuAD has a {kind}"


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__)


def _refuse(name: str, where: str, what: str):
    raise TuneLabError(f"{name}: {where} {what}")
