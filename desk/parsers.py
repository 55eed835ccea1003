"""The API's body parsers: DRF's own, behind the desk's edge (:mod:`desk.edge`). A JSON body nested deeper than
``MAX_JSON_DEPTH`` is refused before it is decoded; a decoded body (JSON, form or multipart) holding text no database
of the desk can store is refused with a 400 naming its path, e.g. ``{"legs[0].instrument": ["NUL ..."]}``."""

from __future__ import annotations

import io
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from desk.edge import MAX_JSON_DEPTH, data_problem, json_too_deep


def refuse_unstorable_text(data: Any) -> None:
    """Raise a 400 naming the first text in ``data`` that the desk cannot take in (NUL, lone surrogate)."""
    found = data_problem(data)
    if found is not None:
        where, why = found
        raise ValidationError({where: [why]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        encoding = parsers.get_encoding(parser_context or {})
        if json_too_deep(raw.decode(encoding, errors="replace")):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        refuse_unstorable_text(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_unstorable_text(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        refuse_unstorable_text(parsed.data)
        return parsed
