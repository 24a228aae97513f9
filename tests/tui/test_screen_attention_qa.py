"""The Attention screen on an extractive QA run: it reads the question and the context as a pair. Opened with no
context, it names its fields "question" and "context" and shows the context field once the model is known; the
pair's tokens hold both, between [SEP]s; a context past the run's maximum length is cut, and the status says so."""

from __future__ import annotations

from screen_apps import ScreenApp, Selection, settle, wait_until
from widget_apps import run_async

from tunelab.tui.screens.attention import AttentionScreen


@run_async
async def test_a_qa_run_reads_the_question_and_the_context_as_a_pair(tiny_qa_run):
    model = str(tiny_qa_run)
    app = ScreenApp(lambda: AttentionScreen(text="where the dog sat ?", model=model), Selection(model=model, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None, timeout=120)
        await settle(pilot)
        assert screen.reads_context and screen.has_class("-pair") and screen.query_one("#att-pair-row").display
        assert str(screen.query_one("#att-text-prompt").render()).startswith("question")
        assert str(screen.query_one("#att-pair-prompt").render()).startswith("context")

        screen.query_one("#att-pair").focus()
        await pilot.press(*"the dog sat near the mat .")
        await wait_until(pilot, lambda: screen.result is not None and "mat" in screen.result.tokens, timeout=120)
        tokens = screen.result.tokens
        assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
        assert tokens[tokens.index("[SEP]") + 1:-1] == ["the", "dog", "sat", "near", "the", "mat", "."]
        assert not screen.result.truncated

        long = " . ".join(["this is good"] * 40)
        screen.show_input("where the dog sat ?", long)
        await wait_until(pilot, lambda: screen.result is not None and screen.result.truncated, timeout=120)
        await settle(pilot)
        assert len(screen.result.tokens) == 64                                  # the run's --max-length
        assert screen.result.tokens[:3] == ["[CLS]", "w", "##h"]               # the question is kept whole
