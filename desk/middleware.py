"""Request middleware: the edge guard (text no database of the desk can store is refused before any view or session
lookup sees it), and a request id echoed in the response and stored on the audit events the request writes."""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from desk.context import request_id_var
from desk.edge import data_problem, text_problem

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _header_name(meta_key: str) -> str:
    return meta_key.removeprefix("HTTP_").replace("_", "-").title()


def edge_problem(request: HttpRequest) -> tuple[str, str] | None:
    """Where the path, query string, headers, cookies or form fields of ``request`` hold a NUL or a lone surrogate, and
    what; None when they hold neither. A JSON body is the API parsers' to check (:mod:`desk.parsers`); a form's (the
    pages post forms) is read here, as the CSRF check would read it next."""
    problem = text_problem(request.path_info)
    if problem is not None:
        return "path", problem
    found = data_problem(request.GET, root="")
    if found is not None:
        return found
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and (problem := text_problem(value)) is not None:
            return _header_name(key), problem
    for name, value in request.COOKIES.items():
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            return "Cookie", problem
    if request.content_type in _FORM_TYPES:
        return data_problem(request.POST, root="")
    return None


class EdgeGuardMiddleware:
    """Refuse, with a 400 naming where, a request whose path, query, headers or cookies hold text PostgreSQL cannot
    store (a NUL looked up as a symbol, a session key, an idempotency key would fail there as a 500)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = edge_problem(request)
        if found is not None:
            where, why = found
            return JsonResponse({where: [why]}, status=400)
        return self.get_response(request)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _SAFE_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(f"req:{request_id}")
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response
