"""The Train screen's form takes --batch-size auto as the CLI does, and names anything else in the same words."""

from tunelab.core.config import SETTINGS_BY_NAME
from tunelab.tui.widgets.config_form import check_value, parse_value, value_text


def test_the_form_takes_auto_for_the_batch_size_and_shows_it_back():
    s = SETTINGS_BY_NAME["batch_size"]
    assert parse_value(s, " auto ") == parse_value(s, "Auto") == "auto" and check_value(s, "auto") is None
    assert value_text("auto") == "auto"                        # a run.json saying auto fills the form with auto
    assert parse_value(s, "16") == 16 and check_value(s, 16) is None
    assert check_value(s, parse_value(s, "big")) == "--batch-size must be a number or auto, not 'big'"
    assert check_value(SETTINGS_BY_NAME["eval_batch_size"], "auto") == "--eval-batch-size must be a number, not 'auto'"
