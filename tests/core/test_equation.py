import pytest

from tunelab.core.equation import parse_equation
from tunelab.core.errors import TuneLabError


def test_single_and_pair_equations():
    e = parse_equation("classify: label ~ sentence")
    assert (e.task, e.label, e.inputs, e.is_pair) == ("classify", "label", ("sentence",), False)
    p = parse_equation("regress:score~sentence1+sentence2")
    assert (p.task, p.label, p.inputs, p.is_pair) == ("regress", "score", ("sentence1", "sentence2"), True)
    assert str(p) == "regress: score ~ sentence1 + sentence2"


@pytest.mark.parametrize("text, fragment", [
    ("clasify: label ~ sentence", "unknown task keyword 'clasify'"),
    ("classify_audio: label ~ audio", "not supported yet"),
    ("classify_spans: answers ~ context", "a question and a context"),
    ("label ~ sentence", "not of the form"),
    ("classify: label sentence", "not of the form"),
    ("classify: label ~ a + b + c", "one input or a pair"),
    ("classify: a + b ~ sentence", "exactly one label"),
    ("classify: label ~ ", "is not a column name"),
])
def test_bad_equations_say_what_is_wrong(text, fragment):
    with pytest.raises(TuneLabError, match=fragment):
        parse_equation(text)


def test_column_names_in_any_script_and_a_name_with_spaces_says_why():
    assert parse_equation("classify: étiquette ~ phrase + 文").inputs == ("phrase", "文")
    with pytest.raises(TuneLabError, match="cannot name a column with spaces"):
        parse_equation("classify: label ~ my sentence")
