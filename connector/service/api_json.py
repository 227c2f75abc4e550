"""JSON in and out of the management API: the answer that never fails to render, the one
shape of an error, and request bodies read within a limit and checked before the engine sees them.

Shared by every endpoint module (`connector.service.api` and what it mounts).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from connector.engine.interapp import unique_object

__all__ = ["ApiError", "JsonAnswer", "error", "interapp_text", "json_value", "read_body"]


class ApiError(Exception):
    """Raised by an endpoint to answer `status` with `{"error": reason}`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class JsonAnswer(JSONResponse):
    # Values come from handlers and HTTP answers: a cell may hold something JSON has no word for
    # (a NaN, a datetime, a lone surrogate). It is shown as text rather than failing the answer.
    def render(self, content: Any) -> bytes:
        try:
            return _dumps(content, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except ValueError:  # a NaN or an infinity, or a lone surrogate that UTF-8 cannot carry
            return _dumps(_finite(content), ensure_ascii=True, allow_nan=False).encode("ascii")


def _dumps(content: Any, **options: Any) -> str:
    return json.dumps(content, default=str, separators=(",", ":"), **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one shape of every error answer."""
    return JsonAnswer({"error": reason}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes without reading much further.

    Content-Length is checked first, then the bytes as they arrive: a chunked body has no
    length, and a declared one may lie. (Starlette's own limit answers in plain text.)
    """
    too_large = ApiError(413, f"the body is larger than the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        text = declared.strip()
        if not (text.isascii() and text.isdecimal()):
            raise ApiError(400, f"Content-Length must be a number of bytes, got {declared[:40]!r}")
        digits = text.lstrip("0")
        if len(digits) > 18 or int(digits or "0") > limit:  # int() of thousands of digits is slow
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def interapp_text(body: bytes) -> str:
    """An InterApp POST's body as text: UTF-8 and not blank (400 otherwise)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise ApiError(400, "the body is empty: send an InterApp message (JSON text)")
    return text


def json_value(body: bytes) -> Any:
    """The `value` of a `{"value": ...}` body, or a 400/422 that says what is wrong."""
    try:
        document = json.loads(body, parse_constant=_no_constant, object_pairs_hook=unique_object)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f'the body must be JSON {{"value": ...}}: {_why_not_json(exc)}') from None
    if not isinstance(document, dict):
        raise ApiError(400, f'the body must be a JSON object {{"value": ...}}, got {_json_kind(document)}')
    if "value" not in document:
        raise ApiError(400, 'the body must have a "value" member: {"value": ...}')
    value = document["value"]
    refusal = _unfit_value(value)
    if refusal is not None:
        raise ApiError(422, refusal)
    return value


def _why_not_json(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return str(exc)[:120]  # a NaN, or an integer of thousands of digits


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unfit_value(value: Any) -> str | None:
    """Why a JSON value cannot be a parameter's value before the engine sees it, or None.

    These would get past the engine's type checks or break what comes after them (the store,
    the answer), so the API refuses them itself, as the engine refuses a wrong type: 422.
    """
    if isinstance(value, (dict, list)):
        # No parameter holds a structure (the engine would refuse it too, after repr-ing it whole).
        return f"a parameter holds a single value (text, number or true/false), got {_json_kind(value)}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        # JSON numbers are IEEE doubles (RFC 8259, section 6); past that range none is exact.
        return "the number is out of range for a parameter (beyond a double's range)"
    if isinstance(value, str) and not _encodable(value):
        # "\ud800" in JSON gives a lone surrogate that no store or answer can carry.
        return "the text is not valid Unicode (a lone surrogate)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")
