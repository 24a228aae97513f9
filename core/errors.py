"""The one exception type for mistakes a user can make (bad file, bad flag, unknown column).

Everything in core raises `TuneLabError` with a message written for the user; the CLI prints it on
one line and exits 2, the TUI shows it as a notification. Any other exception is a bug.
"""


class TuneLabError(Exception):
    """A problem the user caused and can fix; `str(err)` is the one-line message to show."""


def some_of(items, limit: int = 5, quote: bool = False) -> str:
    """At most `limit` of `items` joined for a one-line message, then how many more: 'a, b, c and 2,997 more'.
    A message that lists labels or columns stays one line however many a dataset has."""
    items = list(items)
    shown = [repr(x) if quote else str(x) for x in items[:limit]]
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest > 0 else "")
