"""SQuAD EM/F1 as the official evaluate-v1.1 / v2.0 scripts define them, on crafted cases computed by hand."""

import random

import pytest

from tunelab.core.squad_metrics import (best_null_threshold, check_answers, exact_match, normalize_answer,
                                        squad_scores, token_f1)


def test_normalisation_lowers_and_drops_punctuation_articles_and_extra_spaces():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theater") == "theater"                 # an article only as a whole word
    assert normalize_answer("U.S.") == "us"
    assert normalize_answer("rock-and-roll") == "rockandroll"       # punctuation goes without leaving a space
    assert normalize_answer("«Paris»") == "«paris»"                 # ASCII punctuation only, as the scripts
    assert normalize_answer(" the ") == ""


def test_exact_match_and_f1_by_hand():
    assert exact_match("the Denver Broncos.", "Denver broncos") == 1.0
    assert exact_match("rock and roll", "rock-and-roll") == 0.0
    assert token_f1("Denver Broncos", "Broncos") == pytest.approx(2 / 3)           # P 1/2, R 1
    assert token_f1("the cat sat on the mat", "cat on mat") == pytest.approx(6 / 7)  # P 3/4, R 1
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)                     # common: one x, one y
    assert token_f1("red", "blue") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "Broncos") == 0.0 and token_f1("Broncos", "") == 0.0


def test_published_examples_of_evaluate_squad_and_squad_v2():
    # evaluate's squad card: prediction '1976' against answers ['1976'] -> exact_match 100, f1 100
    assert squad_scores({"56e10a3be3433e1400422b22": "1976"}, {"56e10a3be3433e1400422b22": ["1976"]}) == \
        {"exact_match": 1.0, "f1": 1.0, "total": 1}


def test_best_over_several_gold_answers_each_taken_separately():
    refs = {"q1": ["Broncos", "Denver Broncos", "the Denver Broncos"], "q2": ["Broncos", "Carolina Panthers"],
            "q3": ["New York", "new york city."]}
    preds = {"q1": "Denver Broncos", "q2": "Denver Broncos", "q3": "New York City", "unasked": "x"}
    scores = squad_scores(preds, refs)
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert scores["total"] == 3 and "HasAns_f1" not in scores       # v1 data: no split


def test_v2_unanswerable_questions_and_the_has_ans_no_ans_split():
    refs = {"a1": ["Denver Broncos"], "a2": ["1976"], "n1": [], "n2": [], "n3": ["the"]}   # "the" normalises to nothing
    preds = {"a1": "Broncos", "a2": "", "n1": "", "n2": "Denver", "n3": ""}
    s = squad_scores(preds, refs)
    assert s["HasAns_total"] == 2 and s["NoAns_total"] == 3 and s["total"] == 5
    assert s["HasAns_exact_match"] == 0.0
    assert s["HasAns_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["NoAns_exact_match"] == pytest.approx(2 / 3) and s["NoAns_f1"] == pytest.approx(2 / 3)
    assert s["exact_match"] == pytest.approx(2 / 5)
    assert s["f1"] == pytest.approx((2 / 3 + 0 + 1 + 0 + 1) / 5)
    only_unanswerable = squad_scores({"n": ""}, {"n": []})
    assert only_unanswerable["NoAns_f1"] == 1.0 and "HasAns_f1" not in only_unanswerable


def test_a_question_without_a_prediction_is_a_bug_not_a_zero():
    with pytest.raises(ValueError, match="'q2'"):
        squad_scores({"q1": "x"}, {"q1": ["x"], "q2": ["y"]})


def test_best_null_threshold_by_hand():
    # margins: best span score minus null score; answer with the span when margin > threshold
    margins, span, null = [3, 1, -1, -2], [1, 0, 0.5, 0], [0, 1, 0, 1]
    # none answered: 2; {3}: 3; {3,1}: 2; {3,1,-1}: 2.5; all: 1.5 -> answer only the first: threshold 1
    assert best_null_threshold(margins, span, null) == (1.0, 0.75)
    # a tied group flips together; an equal score keeps the higher threshold (fewer answers), as the official script
    assert best_null_threshold([2, 2, 0], [1, 0, 0], [0, 1, 1]) == (2.0, pytest.approx(2 / 3))
    # answering everything is best: a threshold below every margin
    assert best_null_threshold([1, 0], [True, True], [False, False]) == (-1.0, 1.0)
    assert best_null_threshold([], [], []) == (0.0, 0.0)


def test_best_null_threshold_is_the_best_of_every_threshold():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 12)
        margins = [rng.choice([-2, -1, 0, 0.5, 1, 3]) for _ in range(n)]
        span = [rng.choice([0, 0.4, 1]) for _ in range(n)]
        null = [rng.choice([0, 1]) for _ in range(n)]
        thr, best = best_null_threshold(margins, span, null)

        def mean_at(t):
            return sum(s if m > t else z for m, s, z in zip(margins, span, null)) / n

        candidates = set(margins) | {min(margins) - 1}
        assert best == pytest.approx(max(mean_at(t) for t in candidates))
        assert mean_at(thr) == pytest.approx(best)


def test_check_answers_names_what_is_wrong():
    ctx = "Ada Lovelace was born in London in 1815."
    assert check_answers(ctx, {"text": ["London", "1815"], "answer_start": [25, 35]}) is None
    assert check_answers(ctx, {"text": [], "answer_start": []}) is None             # unanswerable
    assert check_answers(ctx, {"text": ["London"], "answer_start": [24]}) == \
        "the answer 'London' has answer_start 24, where the context reads ' Londo'; the text is at 25 (+1)"
    assert "is not in the context" in check_answers(ctx, {"text": ["Paris"], "answer_start": [0]})
    assert "outside the context" in check_answers(ctx, {"text": ["London"], "answer_start": [99]})
    assert "answer 2 '1815'" in check_answers(ctx, {"text": ["London", "1815"], "answer_start": [25, 30]})
    assert "1 text(s) but 2" in check_answers(ctx, {"text": ["London"], "answer_start": [25, 3]})
    assert check_answers("  ", {"text": [], "answer_start": []}) == "the context is empty"
    assert "empty text" in check_answers(ctx, {"text": [""], "answer_start": [0]})
    assert "not a character offset" in check_answers(ctx, {"text": ["London"], "answer_start": ["25"]})
    assert "structure" in check_answers(ctx, {"text": ["London"]})
