"""The three scripts bertviz's pages load (require.js, d3, jQuery), kept in a local cache so that
`export_attention(..., self_contained=True)` can inline them and the pages open with no network.

Where they come from, first match wins:

1. a folder the caller names (`tunelab attention --scripts DIR`, `scripts_dir=`);
2. the folder in $TUNELAB_BERTVIZ_JS (CI points it at the npm copies `.ci/install-browser` fetches);
3. the cache, `core.run_dir.state_dir() / "bertviz-js"` ($TUNELAB_HOME/bertviz-js), filled once from the same
   CDN URLs bertviz uses, by `tunelab attention --fetch-scripts` or on first use when the CDN can be reached.

Nothing is taken on trust: every file must match one of the sha256 sums pinned below for its name, wherever it
came from. A folder holds them under the CDN's file names: require.min.js, d3.min.js, jquery.min.js. With no
usable copy and no network, `load_scripts` raises a one-line TuneLabError saying how to fill the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .atomic_write import write_atomic
from .errors import TuneLabError
from .run_dir import state_dir

ENV = "TUNELAB_BERTVIZ_JS"
CDN = "https://cdnjs.cloudflare.com/ajax/libs/"
FETCH_TIMEOUT = 15.0  # seconds per file; an air-gapped machine usually fails at once, a black hole after this
FILL_HINT = (f"run `tunelab attention --fetch-scripts` once while online (it fills {{cache}}; copy that folder to "
             f"an air-gapped machine), or point --scripts DIR or ${ENV} at copies of require.min.js, d3.min.js and "
             f"jquery.min.js")


@dataclass(frozen=True)
class Script:
    name: str  # file name in a folder and in the cache, as on the CDN
    url: str  # the URL bertviz's pages load it from
    sha256: dict  # accepted sha256 (hex) -> what that file is


# Provenance. The CDN could not be reached where these were pinned, so the CDN sums are cdnjs's own published
# SRI sums for exactly those URLs (`integrity="sha256-..."`, in hex), as pages that load them with integrity
# checking use them: require.min.js's in voila's templates among others, jQuery 2.0.0's in several sites' docs,
# d3's in a cdnjs URL/SRI table, and that one equals the sum of npm's d3@5.7.0 dist/d3.min.js computed here, so
# the d3 file on cdnjs is npm's byte for byte. The npm sums were computed here from the files .ci/install-browser
# fetches: requirejs@2.3.6's require.js is the same release as the CDN's, unminified; npm's jquery@2.2.4 is NOT
# the release bertviz loads (2.0.0) but CI's stand-in for it, accepted so that CI and users with npm copies can
# build self-contained pages. A file matching no sum is refused, with its sum in the message.
SCRIPTS: tuple[Script, ...] = (
    Script("require.min.js", CDN + "require.js/2.3.6/require.min.js", {
        "d5f10f852b112a514a19f2b778eef5d2d1307878757f0a24539c051831cefaf8": "require.js 2.3.6, cdnjs require.min.js",
        "9485f0917f97fcf4f63a5ea365200ffd57f123f451382a2f9a1ad2e2fd51ac9b": "require.js 2.3.6, npm requirejs@2.3.6 "
                                                                            "require.js (unminified)",
    }),
    Script("d3.min.js", CDN + "d3/5.7.0/d3.min.js", {
        "bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609": "d3 5.7.0, cdnjs d3.min.js = npm "
                                                                            "d3@5.7.0 dist/d3.min.js",
    }),
    Script("jquery.min.js", CDN + "jquery/2.0.0/jquery.min.js", {
        "d482871a5e948cb4884fa0972ea98a81abca057b6bd3f8c995a18c12487e761c": "jQuery 2.0.0, cdnjs jquery.min.js",
        "05b85d96f41fff14d8f608dad03ab71e2c1017c2da0914d7c59291bad7a54f8e": "jQuery 2.2.4, npm jquery@2.2.4 "
                                                                            "dist/jquery.min.js (stand-in for 2.0.0)",
    }),
)
NAMES = tuple(s.name for s in SCRIPTS)


def cache_dir() -> Path:
    """Where TuneLab keeps the scripts it downloaded: $TUNELAB_HOME/bertviz-js (see core.run_dir.state_dir)."""
    return state_dir() / "bertviz-js"


def load_scripts(scripts_dir=None, *, download: bool = True) -> dict[str, str]:
    """The three scripts' text by file name, each checked against its pinned sha256.

    `scripts_dir` (else $TUNELAB_BERTVIZ_JS) is used alone: a missing or unknown file there is an error. Without
    either, the cache is used, and files missing from it are downloaded first when `download` is true."""
    chosen = scripts_dir or os.environ.get(ENV) or None
    if chosen is not None:
        folder = Path(chosen).expanduser()
        missing = [s.name for s in SCRIPTS if not (folder / s.name).is_file()]
        if missing:
            where = "--scripts" if scripts_dir else f"${ENV}"
            raise TuneLabError(f"{where} {str(folder)!r} lacks {', '.join(missing)}: it must hold require.min.js, "
                               f"d3.min.js and jquery.min.js (or drop it to use the cache, {cache_dir()})")
        return {s.name: _checked(s, _read(folder / s.name)).decode("utf-8") for s in SCRIPTS}
    folder = cache_dir()
    texts = {s.name: data for s in SCRIPTS if (data := _cached(folder / s.name, s)) is not None}
    if len(texts) < len(SCRIPTS):
        if not download:
            missing = [n for n in NAMES if n not in texts]
            raise TuneLabError(f"self-contained pages need {', '.join(missing)} in the script cache {folder}; "
                               + FILL_HINT.format(cache=folder))
        fetch_scripts(folder)
        texts = {s.name: _checked(s, _read(folder / s.name)) for s in SCRIPTS}
    return {name: data.decode("utf-8") for name, data in texts.items()}


def fetch_scripts(folder=None, *, force: bool = False) -> list[Path]:
    """Download into `folder` (default: the cache) each script that is missing or fails its check (all of
    them with `force`), from bertviz's CDN URLs; returns the three paths. A file whose sum is not pinned is
    never written. No network: one-line TuneLabError."""
    folder = Path(folder).expanduser() if folder else cache_dir()
    for script in SCRIPTS:
        path = folder / script.name
        if not force and _cached(path, script) is not None:
            continue
        try:
            data = _download(script.url, FETCH_TIMEOUT)
        except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError and timeouts are OSErrors
            reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
            reason = (str(reason).strip().splitlines() or [type(err).__name__])[0]
            raise TuneLabError(f"cannot download {script.url} ({reason}); self-contained pages need require.js, "
                               f"d3 and jQuery: " + FILL_HINT.format(cache=folder)) from None
        _checked(script, data, source=script.url)
        _write(path, data)
    return [folder / s.name for s in SCRIPTS]


def describe(text: str, name: str) -> str:
    """What a loaded script is, from its pinned sum (for the comment above it in a page)."""
    script = next(s for s in SCRIPTS if s.name == name)
    return script.sha256[hashlib.sha256(text.encode("utf-8")).hexdigest()]


# ---------------------------------------------------------------- helpers

def _download(url: str, timeout: float) -> bytes:
    """One GET; tests replace this."""
    request = urllib.request.Request(url, headers={"User-Agent": "tunelab"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _checked(script: Script, data: bytes, *, source: str | None = None) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest not in script.sha256:
        raise TuneLabError(f"{source or script.name} has sha256 {digest}, which is not a pinned copy of "
                           f"{script.name} ({'; '.join(script.sha256.values())}); refusing to inline it")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # cannot happen for a pinned file; kept so a bad pin fails loudly here
        raise TuneLabError(f"{source or script.name} is not UTF-8 text") from None
    return data


def _cached(path: Path, script: Script) -> bytes | None:
    """The cached file's bytes if it is there and passes its check; None if it must be fetched again."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() in script.sha256 else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TuneLabError(f"cannot read {str(path)!r}: {err.strerror}") from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as err:
        raise TuneLabError(f"cannot write the script cache {str(path.parent)!r}: {err.strerror or err}") from None
