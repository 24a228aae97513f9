"""Writing one input's attention as bertviz pages and as raw arrays that load back into bertviz.

`export_attention` turns an `AttentionResult` (from `core.attention.attention_for`) into four files in a folder:

- `head_view.html`, `model_view.html`: bertviz's own head view and model view (`html_action='return'`), wrapped
  as standalone HTML documents. They load require.js, d3 and jQuery from bertviz's CDN, so opening them needs
  the network; with `self_contained=True` the three scripts are inlined instead (with their licence notices),
  taken from the local cache of core.bertviz_scripts, and the pages open with no network. The tokens sit inside
  a `<script>` block there; the embedded JSON is rewritten with `\\u003c`-style escapes, so a sentence such as
  `</script><script>alert(1)</script>` is shown as text and never runs.

  Size, measured with the bundled MiniLM on "The keys to the cabinet are on the table." (12 tokens, 6 layers
  x 12 heads; tests/core/test_attention.py checks it): bertviz's own head view is 464,483 bytes, ours 97,977
  (0.21x), because the weights are rounded to 4 decimals and embedded once (model view: 468,418 -> 101,844,
  0.22x). Inlining adds a fixed amount: 410,086 bytes with the npm copies CI uses (require.js unminified), about
  335 KB with the CDN's own files (require.min.js 2.3.6, d3 5.7.0 238 KB, jQuery 2.0.0).
- `attention.npz`: one float32 array `attention` [layers, heads, T, T], rows summing to 1 (full precision;
  the HTML rounds to 4 decimals to stay small).
- `tokens.json`: `{"format": "tunelab-attention/1", "tokens": [...], "sentence_b_start": int|null,
  "layers": [...], "heads": [...], "meta": {...}}`; `layers`/`heads` are the model's indices of the array's
  layers and heads (all of them unless `--layers`/`--heads` filtered).

Loading the raw export back into bertviz in a notebook:

    import json, numpy as np, torch
    from bertviz import head_view, model_view

    meta = json.load(open("out/tokens.json"))
    attention = [torch.from_numpy(a)[None] for a in np.load("out/attention.npz")["attention"]]
    head_view(attention, meta["tokens"], meta["sentence_b_start"])
    model_view(attention, meta["tokens"], meta["sentence_b_start"])

or, with TuneLab installed, `head_view(*load_export("out"))`. All files are written atomically: an error leaves
no half-written file. Called by the `tunelab attention` verb and the TUI's attention screen.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import strict_json
from . import bertviz_scripts
from .attention import AttentionResult
from .errors import TuneLabError

FORMAT = "tunelab-attention/1"
LARGE_INPUT_TOKENS = 128  # above this bertviz redraws slowly and its HTML reaches tens of MB (bertviz issue #82)
HTML_DECIMALS = 4  # attention weights in the HTML; a 1e-4 change is invisible and the file shrinks about 3x
FILES = {"head_view": "head_view.html", "model_view": "model_view.html",
         "attention": "attention.npz", "tokens": "tokens.json"}
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
</head>
<body>
{body}
</body>
</html>
"""
_MARKER = "PYTHON_PARAMS"  # where bertviz's JS templates take the params
# Inside a <script> block, "</script", "<!--" and "<script" in the data change how the HTML parser reads the
# page; U+2028/9 end a JavaScript line comment (bertviz's template repeats the params inside one).
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})
# The tag bertviz's returned HTML starts with; a self-contained page has the scripts inlined in its place.
_REQUIRE_TAG = f'<script src="{bertviz_scripts.CDN}require.js/2.3.6/require.min.js"></script>'
_END_SCRIPT = re.compile("</script", re.IGNORECASE)
# jQuery and d3 run before require.js, so they make globals instead of anonymous AMD modules (which require.js
# refuses outside its own loader); then they are named as the modules bertviz's code asks require.js for.
_INLINE_ORDER = ("jquery.min.js", "d3.min.js", "require.min.js")
_AMD_NAMES = 'define("jquery", [], function () { return jQuery; });\ndefine("d3", [], function () { return d3; });'


@dataclass(frozen=True)
class ExportResult:
    """What `export_attention` wrote: `files` maps head_view/model_view/attention/tokens to paths."""

    out_dir: str
    files: dict[str, str]
    n_tokens: int
    layers: list[int]
    heads: list[int]
    warnings: tuple[str, ...] = ()
    self_contained: bool = False  # the pages hold require.js, d3 and jQuery: they open with no network


class BertvizInput(NamedTuple):
    """The arguments of `bertviz.head_view`/`model_view`: `head_view(*load_export(folder))`."""

    attention: list  # one torch tensor (1, heads, T, T) per exported layer
    tokens: list[str]
    sentence_b_start: int | None


def export_attention(result: AttentionResult, out_dir, *, layers: list[int] | None = None,
                     heads: list[int] | None = None, meta: dict | None = None, self_contained: bool = False,
                     scripts_dir=None) -> ExportResult:
    """Write the bertviz pages and the raw export of `result` (optionally only some layers/heads) to `out_dir`.

    `layers`/`heads` are the model's indices; an index the result does not hold raises TuneLabError naming
    the valid range. `meta` (model name, sentence, ...) is stored in tokens.json as it is. `self_contained`
    inlines require.js, d3 and jQuery, read from `scripts_dir`, else $TUNELAB_BERTVIZ_JS, else the cache
    (downloaded into it from bertviz's CDN when missing and online); see core.bertviz_scripts."""
    kept = result.select(layers, heads)
    scripts = bertviz_scripts.load_scripts(scripts_dir) if self_contained else None
    warnings = []
    n = len(kept.tokens)
    if n > LARGE_INPUT_TOKENS:
        warnings.append(
            f"the input has {n} tokens: above {LARGE_INPUT_TOKENS} bertviz draws slowly and its HTML files grow to "
            f"tens of MB (bertviz issue #82); shorten the input or keep a few layers and heads with --layers/--heads")
    if result.truncated:
        warnings.append(f"the input was cut to the model's maximum of {n} tokens; the rest is not shown")
    files = {
        "head_view": _page("head view", _render(kept, "head_view", scripts)),
        "model_view": _page("model view", _render(kept, "model_view", scripts)),
        "attention": _npz_bytes(kept.attentions),
        "tokens": json.dumps({"format": FORMAT, "tokens": kept.tokens, "sentence_b_start": kept.sentence_b_start,
                              "layers": kept.layers, "heads": kept.heads, "meta": meta or {}},
                             ensure_ascii=False, indent=1) + "\n",
    }
    out = Path(out_dir).expanduser()
    _write_all(out, {FILES[k]: v for k, v in files.items()})
    return ExportResult(str(out), {k: str(out / name) for k, name in FILES.items()}, n, kept.layers, kept.heads,
                        tuple(warnings), self_contained)


def load_export(out_dir) -> BertvizInput:
    """Read an export back as bertviz's arguments (see the module docstring)."""
    import torch

    folder = Path(out_dir).expanduser()
    try:
        meta = strict_json.loads((folder / FILES["tokens"]).read_text(encoding="utf-8"))
        with np.load(folder / FILES["attention"]) as npz:
            array = npz["attention"]
    except (OSError, ValueError, KeyError) as err:
        raise TuneLabError(f"{str(folder)!r} holds no readable attention export: {err}") from None
    if meta.get("format") != FORMAT or array.ndim != 4 or array.shape[-1] != len(meta["tokens"]):
        raise TuneLabError(f"{str(folder)!r}: tokens.json and attention.npz do not match ({FORMAT} expected)")
    return BertvizInput([torch.from_numpy(a)[None] for a in array], meta["tokens"], meta["sentence_b_start"])


# ---------------------------------------------------------------- rendering with bertviz

def _render(result: AttentionResult, view: str, scripts: dict[str, str] | None = None) -> str:
    """bertviz's HTML for `result`, labelled with the model's layer (and, in the model view, head) indices;
    with `scripts` (file name -> text, from core.bertviz_scripts) inlined instead of loaded from the CDN."""
    import torch
    from bertviz import head_view, model_view

    n_tokens = len(result.tokens)
    n_heads = max(result.heads) + 1 if view == "model_view" else len(result.heads)
    # float64 rounded weights: bertviz's json.dumps then writes 0.1234, not 0.12340000271797180
    weights = torch.from_numpy(np.round(result.attentions.astype(np.float64), HTML_DECIMALS))
    # bertviz picks layers (and model_view heads) by index from full-size inputs and labels them by those
    # indices; layers left out get a placeholder (no memory) that it never reads.
    placeholder = torch.zeros((), dtype=torch.float64).expand(1, n_heads, n_tokens, n_tokens)
    per_layer = [placeholder] * (max(result.layers) + 1)
    for i, layer in enumerate(result.layers):
        data = weights[i]
        if view == "model_view":
            data = torch.zeros(n_heads, n_tokens, n_tokens, dtype=torch.float64).index_copy_(
                0, torch.tensor(result.heads), data)
        per_layer[layer] = data[None]
    common = dict(tokens=result.tokens, sentence_b_start=result.sentence_b_start, include_layers=list(result.layers),
                  html_action="return")
    if view == "model_view":
        page = model_view(per_layer, include_heads=list(result.heads), display_mode="light", **common)
    else:
        page = head_view(per_layer, **common)
    page = _escape_params(page.data, view)
    return _inline_scripts(page, view, scripts) if scripts else page


def _template_head(view: str) -> str:
    """The fixed text of bertviz's {view}.js before its params marker."""
    import bertviz

    pieces = (Path(bertviz.__file__).parent / f"{view}.js").read_text(encoding="utf-8").split(_MARKER)
    if len(pieces) != 3 or not pieces[0].endswith("const params = "):
        raise RuntimeError(f"bertviz's {view}.js no longer matches what core/bertviz_export.py expects")
    return pieces[0]


def _inline_scripts(page: str, view: str, scripts: dict[str, str]) -> str:
    """Swap bertviz's <script src=CDN require.js> for the three scripts inlined, and its require.config (the
    CDN paths of d3 and jQuery) for a comment: the page then asks the network for nothing. The config is found
    in the template's fixed text, never in the data."""
    original = head = _template_head(view)
    at = page.find(head)
    config_start = head.find("require.config(")
    config_end = head.find("});", config_start) + len("});")
    if not page.startswith(_REQUIRE_TAG) or at < 0 or min(config_start, config_end - len("});")) < 0:
        raise RuntimeError(f"bertviz's {view} HTML no longer matches what core/bertviz_export.py expects")
    head = (head[:config_start] + "// require.js, d3 and jQuery are inlined at the top of this page (TuneLab "
            "self-contained export): it loads nothing from the network" + head[config_end:])
    inlined = [f"<script>\n/* {name}: {bertviz_scripts.describe(scripts[name], name)}; inlined by TuneLab */\n"
               f"{inline_js(scripts[name])}\n</script>" for name in _INLINE_ORDER]
    inlined.append(f"<script>\n{_AMD_NAMES}\n</script>")
    return "\n".join(inlined) + page[len(_REQUIRE_TAG):at] + head + page[at + len(original):]


def inline_js(text: str) -> str:
    """JavaScript made safe to sit between <script> and </script>. "</script" would end the block early and
    "<!--" starts the HTML parser's escaped state (where a later "<script" keeps "</script>" from ending it), so
    each gets a backslash: `<\\/script`, `<\\!--`. Where these occur in real scripts, in strings, regular
    expressions and comments, the backslash changes nothing."""
    return _END_SCRIPT.sub(lambda m: "<\\/" + m.group(0)[2:], text).replace("<!--", "<\\!--")


def _escape_params(page: str, view: str) -> str:
    """Make bertviz's embedded params safe inside <script>, and embed them once.

    bertviz pastes `json.dumps(params)` into its JS template at each PYTHON_PARAMS marker: once as code
    (`const params = ...;`) and once inside the comment after it, which doubles the file. The code's copy is
    re-escaped (\\u003c for <, ...); the comment gets its marker back. The copies are found by the template's
    fixed text around them, never by parsing the (possibly hostile) data."""
    import bertviz

    template = (Path(bertviz.__file__).parent / f"{view}.js").read_text(encoding="utf-8")
    pieces = template.split(_MARKER)
    start, end = page.find(pieces[0]), page.rfind(pieces[-1])
    if len(pieces) != 3 or not pieces[0].endswith("const params = ") or start < 0 or end < 0:
        raise RuntimeError(f"bertviz's {view}.js no longer matches what core/bertviz_export.py expects")
    start += len(pieces[0])
    size, odd = divmod(end - start - len(pieces[1]), 2)
    params = page[start:start + size]
    if odd or page[start + size:end] != pieces[1] + params:
        raise RuntimeError(f"could not find the params in bertviz's {view} HTML; update core/bertviz_export.py")
    return page[:start] + params.translate(_SCRIPT_SAFE) + pieces[1] + _MARKER + page[end:]


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=html_lib.escape(f"TuneLab attention: {title}"), body=body.strip())


def _npz_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, attention=np.ascontiguousarray(array, dtype=np.float32))
    return buffer.getvalue()


# ---------------------------------------------------------------- atomic writes

def _write_all(folder: Path, contents: dict[str, str | bytes]) -> None:
    """Write every file to a temporary name first and rename them only when all are written; on failure remove
    the temporary files and the folders this call made, so a failed export leaves nothing behind."""
    made = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]     # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TuneLabError(f"cannot create output folder {str(folder)!r}: {err.strerror}") from None
    if not folder.is_dir():
        raise TuneLabError(f"output path {str(folder)!r} is not a folder")
    for name in contents:    # checked before any is written: a rename failing half-way would leave a mixed export
        if (folder / name).is_dir():
            _remove((), made)
            raise TuneLabError(f"cannot write the export to {str(folder)!r}: {name} there is a folder; "
                               "move it away or pick another --out")
    temps: dict[str, str] = {}
    try:
        for name, content in contents.items():
            fd, temps[name] = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            os.chmod(temps[name], 0o644)  # mkstemp makes files private; an export is meant to be opened and shared
        for name, temp in temps.items():
            os.replace(temp, folder / name)
    except OSError as err:
        _remove(temps.values(), made)
        raise TuneLabError(f"could not write the export to {str(folder)!r}: {err.strerror or err}") from None
    except BaseException:
        _remove(temps.values(), made)
        raise


def _remove(temps, folders) -> None:
    for temp in temps:
        if os.path.exists(temp):
            os.unlink(temp)
    for made in folders:
        try:
            made.rmdir()
        except OSError:   # not empty (another process wrote there) or gone: leave it
            break
