"""`tunelab eval` on a QA run shows exact match and F1 per kind of question (all, HasAns, NoAns) with how many
questions each holds, in one table, as the Evaluate screen does; --json holds the same rows."""

from __future__ import annotations

import json

from conftest import toy_qa_rows

from tunelab.cli import main


def test_eval_prints_squad_parts_with_their_counts(tiny_qa_run, capsys):
    assert main(["eval", "--model", str(tiny_qa_run), "--mistakes", "0"]) == 0
    out = capsys.readouterr().out
    assert "more classes" not in out and "with the most examples" not in out and "│" not in out   # one table
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()[:3] in ("all", "Has", "NoA")}
    assert set(rows) == {"all", "HasAns", "NoAns"}
    assert int(rows["HasAns"][2]) + int(rows["NoAns"][2]) == int(rows["all"][2]) == 40

    assert main(["eval", "--model", str(tiny_qa_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    parts = {row["label"]: row for row in report["per_class"]}
    assert parts["all"]["f1"] == report["scores"]["f1"] and parts["HasAns"]["f1"] == report["scores"]["HasAns_f1"]
    assert parts["NoAns"]["support"] == sum(1 for r in toy_qa_rows(40, 2) if not r["answers"]["text"])   # test's
