"""A true/false FitConfig setting (label_all_tokens) in the Train form: shown and read back as the CLI takes it."""

from tunelab.core.config import SETTINGS_BY_NAME
from tunelab.tui.widgets.config_form import check_value, parse_value, value_text


def test_a_switch_setting_reads_true_and_false_and_names_anything_else():
    s = SETTINGS_BY_NAME["label_all_tokens"]
    assert value_text(s.default) == "false" and value_text(True) == "true"
    assert parse_value(s, "true") is True and parse_value(s, " Yes ") is True
    assert parse_value(s, "false") is False and parse_value(s, "") is False
    assert check_value(s, parse_value(s, "maybe")) == "--label-all-tokens must be true or false, not 'maybe'"
