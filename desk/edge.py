"""The desk's edge: what no request may carry past the first line of code, refused with a 400 naming where it is.

- Text that no database of the desk can store: PostgreSQL text cannot hold NUL (0x00) and jsonb refuses ``\\u0000``;
  a lone surrogate (``\\ud800``-``\\udfff``, legal in a JSON string escape) cannot be encoded as UTF-8 at all. Either
  would reach a lookup (an instrument symbol, a trader, a key) and fail there as a 500, or be echoed into a stored
  answer (the idempotency record) that cannot be written.
- JSON nested deeper than :data:`MAX_JSON_DEPTH`: the standard decoder recurses once per level and a body nested
  50,000 deep raises ``RecursionError`` (on session endpoints inside the CSRF check, which parses the body).

The request path, query string, headers and cookies are checked by :class:`desk.middleware.EdgeGuardMiddleware`,
the bodies by the parsers in :mod:`desk.parsers`; both answer ``{"<where>": ["<what>"]}`` like a serializer error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.datastructures import MultiValueDict

MAX_JSON_DEPTH = 64
NUL_REFUSED = "NUL (\\u0000) is not allowed in text"
SURROGATE_REFUSED = "a lone surrogate (\\ud800-\\udfff) is not valid Unicode text"
REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# A JSON string (escapes included), then any character that is not a bracket: what the depth count ignores.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be taken in (NUL, lone surrogate), or None."""
    if "\x00" in text:
        return NUL_REFUSED
    if _SURROGATE.search(text):
        return SURROGATE_REFUSED
    return None


def _children(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """``(path, child, is_key)`` of a container: dict keys (checked as text) and values, list items."""
    if isinstance(value, MultiValueDict):
        for key, items in value.lists():
            yield (path or "body"), key, True
            for index, item in enumerate(items):
                yield (f"{path}.{key}" if path else key) + (f"[{index}]" if len(items) > 1 else ""), item, False
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield (path or "body"), key, True
            yield name, item, False
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item, False


def data_problem(data: Any, root: str = "") -> tuple[str, str] | None:
    """The first text in ``data`` (parsed JSON or form data: dicts, lists, strings) that cannot be taken in, as
    ``(where, why)``; ``where`` is its path (``legs[0].instrument``; a bad key is named by its container). None if
    all is well. Iterative: a wide or deep document cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                return path or "body", problem
            continue
        children = list(_children(value, path))
        for child_path, child, is_key in children:
            if is_key and isinstance(child, str) and (problem := text_problem(child)) is not None:
                return child_path, f"a key: {problem}"
        stack.extend((child_path, child) for child_path, child, is_key in reversed(children) if not is_key)
    return None


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON document ``text`` nests arrays and objects more than ``limit`` deep, found without
    recursion and without a loop per character: strings and everything but brackets are dropped, then each pass
    removes the innermost empty pairs; a pair left after ``limit`` passes sits deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        fewer = _EMPTY_PAIR.sub("", brackets)
        if fewer == brackets:
            return False
        brackets = fewer
    return _EMPTY_PAIR.search(brackets) is not None


def storable(data: Any) -> Any:
    """``data`` with every NUL and lone surrogate in its text (keys included) replaced by U+FFFD: what a jsonb column
    can hold, for an answer that must be stored as sent (the idempotency record stores the answer it returns)."""
    if isinstance(data, str):
        return _BAD_TEXT.sub(REPLACEMENT, data) if _BAD_TEXT.search(data) else data
    if isinstance(data, Mapping):
        return {storable(key): storable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [storable(item) for item in data]
    return data
