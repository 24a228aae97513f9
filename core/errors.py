"""The one exception type for mistakes a user can make (bad file, bad flag, unknown column).

Everything in core raises `TuneLabError` with a message written for the user; the CLI prints it on
one line and exits 2, the TUI shows it as a notification. Any other exception is a bug.
"""


class TuneLabError(Exception):
    """A problem the user caused and can fix; `str(err)` is the one-line message to show."""
