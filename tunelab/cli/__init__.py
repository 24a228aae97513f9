"""The `tunelab` command line: a thin layer over tunelab.core, one module per group of verbs.

Each verb module has `register(subparsers)`, which adds its parser and sets `func`; `main` parses, runs it,
and turns a TuneLabError into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from tunelab import __version__

COMMAND_MODULES = ("models", "summary", "fit", "runs", "sweep", "compare", "evaluate", "predict", "explain", "attention", "probing", "tui")


class OneLineErrors(argparse.ArgumentParser):
    """A usage mistake prints one line and a pointer to --help (not argparse's whole usage block), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="tunelab",
        description="Fine-tune and probe BERT-family encoders from the terminal.",
        epilog="Run `tunelab VERB --help` for a verb's flags.",
    )
    parser.add_argument("--version", action="version", version=f"tunelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="VERB", parser_class=OneLineErrors)
    for name in COMMAND_MODULES:
        importlib.import_module(f"tunelab.cli.{name}").register(sub)
    return parser


def quiet_libraries() -> None:
    """Hugging Face libraries print load reports and progress bars; TuneLab shows its own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    from tunelab.core.errors import TuneLabError

    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:   # started with that stream closed (`>&-`): nobody reads it, so discard
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if sys.stdin.isatty() and sys.stdout.isatty():   # a person at a terminal: open the workbench
            from tunelab.cli.tui import open_default

            return open_default()
        parser.print_help()
        return 0
    try:
        early = getattr(args, "first_words", None)
        try:
            words = early(args) if early is not None else None
            if words:                      # said before the second or two of importing the HF libraries
                from .progress import say

                say(words)
            if args.command != "tui":    # the app loads transformers in a worker, after its first paint
                quiet_libraries()
            return int(args.func(args) or 0)
        finally:
            if early is not None:
                from .progress import said

                said()                   # a start-up spinner never outlives the verb, nor garbles its error line
    except TuneLabError as err:
        from .common import visible

        print(f"tunelab {args.command}: error: {visible(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tunelab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (RuntimeError, AssertionError, IndexError) as err:
        from tunelab.core.device import gpu_error_message

        message = gpu_error_message(err)    # a device error users meet on GPUs (eval, predict, probes): what to do
        if message is None:
            raise
        print(f"tunelab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno not in _ENVIRONMENT_ERRORS:
            raise
        # the machine said no: the user's to fix, so one line
        where = f": {_short_path(err.filename)}" if err.filename else ""
        print(f"tunelab {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2


# a full disk, a read-only or forbidden place, a path the file system cannot hold (a name over 255 bytes, a
# symlink loop, a file where a folder belongs, a folder where a file belongs)
_ENVIRONMENT_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                       errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR}


def _short_path(name) -> str:
    text = str(name)
    return text if len(text) <= 120 else text[:60] + "..." + text[-40:]
