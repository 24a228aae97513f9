"""An explanation as a small self-contained HTML page: the sentence with each word coloured by its score.

The page has no script at all and a Content-Security-Policy that forbids any (and any fetch), so it opens offline and
nothing in it runs. Every piece of text from outside (the words, the sentence, the target, the model's name) goes
through `html.escape` with quotes, as the bertviz pages' titles do (core/bertviz_export.py): a sentence holding
`</script><script>...` is shown as those characters and runs nothing. Colours: blue for a word that pushed towards
the target, red for one that pushed against it (unsigned methods: blue only), strength by |score| over the largest;
each word's score is in its title (hover) and in the table below. Written atomically. Called by `tunelab explain
--html`.
"""

from __future__ import annotations

import html
from pathlib import Path

from .atomic_write import write_atomic
from .errors import TuneLabError
from .explain import METHOD_TITLES, Explanation

POSITIVE = (37, 99, 235)     # blue: pushed towards the target
NEGATIVE = (220, 38, 38)     # red: pushed against it

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #111; }}
.sentence {{ font-size: 1.4rem; line-height: 2.4rem; }}
.w {{ padding: 0.15rem 0.25rem; margin: 0 0.1rem; border-radius: 0.25rem; white-space: pre-wrap; }}
.sep {{ display: block; height: 0.6rem; }}
table {{ border-collapse: collapse; margin-top: 1.5rem; }}
td, th {{ padding: 0.15rem 0.8rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.note {{ color: #555; }}
.input {{ font-family: ui-monospace, monospace; white-space: pre-wrap; }}
.warn {{ color: #b45309; }}
</style>
</head>
<body>
<h1>{heading}</h1>
<p class="note">{about}</p>
<p class="input">{given}</p>
{warning}
<p class="sentence">{sentence}</p>
<p class="note">{legend}</p>
<table>
<tr><th>word</th><th>score</th></tr>
{rows}
</table>
</body>
</html>
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def colour(score: float, largest: float) -> str:
    """The background of a word: blue for positive, red for negative, alpha by |score| / largest."""
    rgb = POSITIVE if score >= 0 else NEGATIVE
    alpha = 0.0 if largest <= 0 else min(1.0, abs(score) / largest)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha * 0.85:.3f})"


def explanation_page(e: Explanation, model: str = "") -> str:
    largest = max((abs(s) for s in e.scores), default=0.0)
    spans, segment = [], 0
    for word, seg, score in zip(e.words, e.segments, e.scores):
        if seg != segment:
            spans.append('<span class="sep"></span>')
            segment = seg
        spans.append(f'<span class="w" style="background: {colour(score, largest)}" '
                     f'title="{_e(f"{score:+.4f}")}">{_e(word)}</span>')
    rows = "\n".join(f"<tr><td>{_e(w)}</td><td class=\"n\">{s:+.4f}</td></tr>" for w, s in zip(e.words, e.scores))
    kind = "attention-based: what the model looked at, not what its output depends on" if e.attention_based else \
        "gradient-based attribution of the output"
    about = f"{METHOD_TITLES[e.method]} ({kind}); explained: {e.target}; output {e.output:.4f}"
    if e.delta is not None:
        about += (f"; baseline output {e.baseline_output:.4f}, {e.steps} steps, scores sum to "
                  f"{sum(e.scores):.4f} (convergence delta {e.delta:.2g})")
    legend = ("blue: pushed towards the explained output; red: pushed against it" if e.signed
              else "darker: larger score (unsigned)")
    return _PAGE.format(title=_e(f"TuneLab explanation: {e.target}"), heading=_e(f"Why {model or 'the model'} said "
                                                                                  f"{e.target}"),
                        about=_e(about), given=_e(e.text) + (f"<br>{_e(e.pair)}" if e.pair is not None else ""),
                        warning=f'<p class="warn">{_e(e.warning)}</p>' if e.warning else "",
                        sentence="".join(spans), legend=_e(legend), rows=rows)


def check_page_path(path, flag: str = "--html") -> Path:
    """The page's path, refused at once (before any model is loaded) if it is a directory or its folder is missing."""
    path = Path(path).expanduser()
    if not str(path).strip():
        raise TuneLabError(f"{flag} is empty; name a file to write to")
    if path.is_dir():
        raise TuneLabError(f"{flag} {str(path)!r} is a directory; name a file to write to")
    if not path.parent.is_dir():
        raise TuneLabError(f"{flag} {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    return path


def write_explanation_page(e: Explanation, path, model: str = "") -> Path:
    """Write the page to `path` atomically (a failure leaves no half-written file)."""
    path = check_page_path(path)
    try:
        write_atomic(path, explanation_page(e, model))
    except OSError as err:
        raise TuneLabError(f"cannot write {str(path)!r}: {err.strerror or err}") from None
    return path
