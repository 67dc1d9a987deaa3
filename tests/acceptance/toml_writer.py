"""A tiny TOML writer for the acceptance tests' config.toml (no new dependency).

Handles what config.toml uses: tables, one level of sub-tables (``[forms.columns]``), arrays of
tables (``[[groups]]``), strings, integers, floats, booleans and lists of scalars. The output is
read back with ``tomllib`` and compared, so a value it cannot write faithfully fails loudly.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string (non-ASCII kept) is a valid TOML basic string: same escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(_is_table(v) for v in value)


def _body(table: Mapping[str, Any]) -> list[str]:
    return [
        f"{_key(k)} = {_value(v)}"
        for k, v in table.items()
        if not _is_table(v) and not _is_table_array(v)
    ]


def _emit(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if _is_table(value):
            lines += ["", "[" + ".".join(_key(p) for p in [*path, key]) + "]", *_body(value)]
            _emit(lines, [*path, key], value)
        elif _is_table_array(value):
            for item in value:
                lines += ["", "[[" + ".".join(_key(p) for p in [*path, key]) + "]]", *_body(item)]
                _emit(lines, [*path, key], item)


def dumps(document: Mapping[str, Any]) -> str:
    """Return `document` as TOML text (checked by reading it back)."""
    lines = _body(document)
    _emit(lines, [], document)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != _plain(document):
        raise ValueError("the TOML writer could not represent this document faithfully")
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
