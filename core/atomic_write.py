"""Writing a file so that no reader ever sees half of it: the one way TuneLab replaces run.json, metrics.json,
heartbeat.json and owner.json (read by other processes while a run goes on), cached bertviz scripts and CSV
exports.

The data goes to a uniquely named temporary file in the same directory, which is then renamed over the target
(atomic on POSIX). Two processes writing the same file at once each use their own temporary file, so the
result is one of the two whole files. If writing fails (disk full, a signal), the temporary file is removed and
the old file, if any, stays as it was. A symbolic link is followed (its target is replaced, the link kept); a
device or a pipe is written into directly. A directory where the file belongs is an IsADirectoryError naming the
path, raised before anything is written (it is never replaced, nor written into).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from . import strict_json


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` (str is written as UTF-8) in one step. OSError propagates; callers word it."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_symlink():
        path = Path(os.path.realpath(path))      # write the file the link points at; the link stays a link
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a directory is where this file belongs", str(path))
    if path.exists() and not path.is_file() and not path.is_dir():
        # a device or a pipe (/dev/stdout, /dev/null, /dev/full): there is nothing to swap, so write into it
        with open(path, "wb") as fh:
            fh.write(payload)
        return
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def write_json_atomic(path: str | Path, data, *, indent: int | None = 2) -> None:
    """`data` as strict JSON (UTF-8, one trailing newline; NaN and infinities as null), written with `write_atomic`."""
    write_atomic(path, strict_json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
