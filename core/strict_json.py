"""JSON as TuneLab writes it: strict (RFC 8259), so any reader, in any language, can parse every file and line.

Python's json writes NaN and Infinity by default, which strict parsers (JavaScript's JSON.parse, jq, most
languages) refuse. Here a non-finite float is written as null, deliberately: a score that could not be
computed is "no value". Used for run.json, metrics.json, heartbeat and owner files (core/atomic_write.py), the
lines of events.jsonl (core/events.py) and the CLI's --json output.

Reading: `loads` is json.loads for files someone else may have written. A file of `[[[[...` thousands deep makes
Python's parser raise RecursionError, which no reader expects; here it is a JSONDecodeError (a ValueError) like
any other damage, so the reader's "damaged file" path takes it.
"""

from __future__ import annotations

import json
import math


def loads(text, **kwargs):
    """`json.loads(text, **kwargs)`; nesting too deep to parse raises json.JSONDecodeError, not RecursionError."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to read", text if isinstance(text, str) else "", 0) from None


def dumps(data, *, default=None, **kwargs) -> str:
    """`json.dumps(data, **kwargs)` with NaN and ±Infinity written as null (never as NaN/Infinity)."""
    try:
        return json.dumps(data, allow_nan=False, default=default, **kwargs)
    except ValueError:            # a non-finite float somewhere: the rare case pays for the walk
        return json.dumps(_finite(data, default), allow_nan=False, default=default, **kwargs)


def _finite(value, default):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, default) for v in value]
    if value is None or isinstance(value, (str, int)):
        return value
    return _finite(default(value), default) if default is not None else value
