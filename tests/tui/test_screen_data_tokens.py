"""The Data screen on token-classification data: the equation builder offers every task keyword of the registry and
guesses `classify_tokens: ner_tags ~ tokens` from list columns, the pair picker is off for a task that reads one
input, the preview shows each sentence's words with their tags (and the highlighted one whole, words over tags),
and the summary shows the tag counts, the entities per type, sentences without an entity, words past the maximum
length and tag rows that break IOB2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_tiny_bert, write_jsonl
from fixtures.app_factory import install_runs, make_app
from test_app_screens import wait_for
from textual.widgets import DataTable, Input, Select, Static
from widget_apps import run_async

from tunelab.core.tasks.base import keywords
from tunelab.tui.screens.data import guess_token_equation
from tunelab.tui.selection import Selection

SIZE = (80, 24)
EQN = "classify_tokens: ner_tags ~ tokens"
TRAIN = [
    (["the", "cat", "sat", "on", "the", "mat"], ["O", "B-PER", "O", "O", "O", "B-LOC"]),
    (["a", "big", "dog", "ran", "near", "the", "red", "table"], ["B-PER", "I-PER", "I-PER", "O", "O", "O", "B-LOC", "I-LOC"]),
    (["the", "keys", "are", "there"], ["O", "O", "O", "O"]),                          # no entity
    (["the", "boy", "is", "happy"], ["O", "I-PER", "O", "O"]),                        # I- after O: breaks IOB2
]


def write_ner(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", TRAIN), ("validation", TRAIN[:2]), ("test", TRAIN[1:3])):
        write_jsonl(directory / f"{split}.jsonl", [{"id": i, "tokens": w, "ner_tags": t} for i, (w, t) in enumerate(rows)])
    return directory


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


def summary_of(app) -> str:
    return str(app.screen.query_one("#data-summary-text", Static).render())


@run_async
async def test_token_data_shows_words_with_tags_and_tag_and_entity_counts(workdir, tiny_model):
    write_ner(workdir / "ner")
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="ner"), start="data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "entities (train)" in summary_of(app), timeout=180, what="the summary")
        screen = app.screen
        task = screen.query_one("#eqn-task", Select)
        assert [value for _, value in task._options if value != Select.NULL] == list(keywords())
        assert "classify_tokens" in keywords()
        assert screen.query_one("#data-eqn", Input).value == EQN                      # guessed from the lists
        assert task.value == "classify_tokens" and screen.query_one("#eqn-pair", Select).disabled
        assert app.selection.eqn == EQN

        preview = screen.query_one("#data-preview", DataTable)
        assert str(preview.ordered_columns[0].label) == "tokens / ner_tags"
        assert str(preview.get_row_at(0)[0]) == "the cat/B-PER sat on the mat/B-LOC"    # O words bare
        assert str(preview.get_row_at(1)[0]).startswith("a/B-PER big/I-PER dog/I-PER ran")
        row = str(screen.query_one("#data-row", Static).render()).splitlines()
        assert row[0].split() == ["the", "cat", "sat", "on", "the", "mat"]              # words over their tags
        assert row[1].split() == ["O", "B-PER", "O", "O", "O", "B-LOC"]
        preview.focus()
        await pilot.press("down")
        row = str(screen.query_one("#data-row", Static).render()).splitlines()
        assert row[0].split()[:3] == ["a", "big", "dog"] and row[1].split()[:3] == ["B-PER", "I-PER", "I-PER"]

        text = summary_of(app)
        assert "tag counts (train)" in text and "label balance" not in text
        lines = text.splitlines()
        assert any(line.split()[:1] == ["B-PER"] and "2 " in line for line in lines)   # tags per word
        entities = lines[lines.index("entities (train)") + 1:]
        assert entities[0].split()[0] == "LOC" and entities[0].split()[-2:] == ["2", "40%"]
        assert entities[1].split()[0] == "PER" and entities[1].split()[-2:] == ["3", "60%"]
        assert "no entity    1 · 0 · 1 sentences" in text                # train's third, test's second
        assert "break IOB2   1 · 0 · 0 tag rows" in text and "train row 4: word 2 is I-PER after O" in text
        assert "words        22 · 14 · 12" in text and "cut at 64    0 · 0 · 0" in text

        # a maximum length shorter than the sentences: the words past it are counted
        length = screen.query_one("#data-max-length", Input)
        length.value = "6"
        await wait_for(pilot, lambda: "cut at 6 " in summary_of(app), timeout=120, what="the new summary")
        # [CLS] and [SEP] leave 4 tokens a sentence: train's "the mat" and "near the red table" are cut
        assert "cut at 6     6 · 6 · 4 scored as missed" in summary_of(app)


@run_async
async def test_switching_the_task_switches_the_preview_back_to_columns(workdir, tiny_model):
    write_ner(workdir / "ner")
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="ner", eqn=EQN), start="data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "entities (train)" in summary_of(app), timeout=180, what="the summary")
        screen = app.screen
        preview = screen.query_one("#data-preview", DataTable)
        assert str(preview.ordered_columns[0].label) == "tokens / ner_tags"
        eqn = screen.query_one("#data-eqn", Input)
        eqn.value = "classify: ner_tags ~ tokens"                     # typed: a label per row
        await pilot.pause()
        assert [str(c.label) for c in preview.ordered_columns] == ["id", "tokens", "ner_tags"]
        assert str(preview.get_row_at(0)[1]) == "the cat sat on the mat"
        assert not screen.query_one("#data-row", Static).display
        assert not screen.query_one("#eqn-pair", Select).disabled
        await wait_for(pilot, lambda: "classify_tokens" in str(screen.query_one("#data-error", Static).render()),
                       timeout=120, what="the engine's message")     # it says which task the data looks like


def test_token_equations_are_guessed_from_list_columns_or_gft_names():
    rows = [{"id": 1, "tokens": ["a", "b"], "pos_tags": ["DT", "NN"], "ner_tags": ["O", "B-PER"]}]
    assert guess_token_equation(["id", "tokens", "pos_tags", "ner_tags"], rows) == ("ner_tags", "tokens")
    assert guess_token_equation(["words", "tags"], [{"words": ["a"], "tags": [3]}]) == ("tags", "words")
    gft = [{"tokens": "EU rejects German", "ner_tags": "B-ORG O B-MISC"}]
    assert guess_token_equation(["tokens", "ner_tags"], gft) == ("ner_tags", "tokens")
    assert guess_token_equation(["sentence", "label"], [{"sentence": "a cat", "label": "x"}]) is None


@run_async
async def test_tags_stored_as_class_ids_show_by_name(workdir, tiny_model):
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))})
    rows = {"tokens": [w for w, _ in TRAIN], "ner_tags": [[names.index(t) for t in tags] for _, tags in TRAIN]}
    (workdir / "hub").mkdir()
    Dataset.from_dict(rows, features=features).to_parquet(str(workdir / "hub" / "train.parquet"))
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="hub/train.parquet"), start="data")
    async with app.run_test(size=SIZE) as pilot:
        preview = app.screen.query_one("#data-preview", DataTable)
        await wait_for(pilot, lambda: preview.row_count == 4, timeout=120, what="the preview")
        await pilot.pause()
        assert app.screen.query_one("#data-eqn", Input).value == EQN
        assert str(preview.get_row_at(0)[0]) == "the cat/B-PER sat on the mat/B-LOC"


def test_an_unlabelled_split_shows_a_dash_in_the_token_block():
    from tunelab.tui.screens.data import token_detail_lines

    class Summary:
        max_length = 64
        token_details = {
            "train": {"words": 22, "words_per_sentence": {"p50": 5, "p90": 7, "p99": 7, "max": 8},
                      "words_beyond_max_length": 0, "entities": {"PER": 3}, "sentences_without_entity": 1,
                      "scheme_breaks": 0, "scheme_break_examples": []},
            "test": {"words": 12, "words_per_sentence": {"p50": 6, "p90": 7, "p99": 7, "max": 8},
                     "words_beyond_max_length": 0}}

    text = "\n".join(line.plain for line in token_detail_lines(Summary()))
    assert "words (train · test)" in text and "no entity    1 · – sentences" in text and "IOB2" not in text


@run_async
async def test_loading_other_data_replaces_an_equation_that_names_columns_it_lacks(workdir, tiny_model):
    """From the sentence demo to token data: the demo's 'classify: label ~ sentence' names columns the new data
    does not have, so the builder guesses again instead of showing the engine's complaint."""
    write_ner(workdir / "ner")
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="demo"), start="data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "label balance" in summary_of(app), timeout=180, what="the demo's summary")
        assert app.screen.query_one("#data-eqn", Input).value == "classify: label ~ sentence"
        source = app.screen.query_one("#data-source", Input)
        source.value = "ner"
        source.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "entities (train)" in summary_of(app), timeout=180, what="the token summary")
        assert app.screen.query_one("#data-eqn", Input).value == EQN
