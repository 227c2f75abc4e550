"""The fake platform's answers, one helper per shape; the request a handler sees, and parsers of its values."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from attrs import frozen

from connector.ticketing.fake.data import Record

JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}
DENIED = {"Message": "Authorization has been denied for this request."}
HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The gateway could not reach the application.</p></body></html>"
)


@frozen
class FakeAnswer:
    """One HTTP answer. `delay`: seconds the transport waits first; `lost`: the request was applied,
    but the transport must drop the connection instead of answering."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    lost: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class LoggedRequest(NamedTuple):
    method: str
    path: str
    status: int


# --- answers: one helper per shape ----------------------------------------------------------------


def raw_answer(status: int, body: bytes, headers: Mapping[str, str] = JSON_HEADERS) -> FakeAnswer:
    return FakeAnswer(status, HTTPStatus(status).phrase, dict(headers), body)


def json_answer(status: int, payload: object, headers: Mapping[str, str] = JSON_HEADERS) -> FakeAnswer:
    return raw_answer(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


def envelope(status: int = 200, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    # httpStatusCode is the .NET HttpStatusCode enum name: "OK", "BadRequest", "InternalServerError".
    return {
        "errorCode": code,
        "errorMessage": message,
        "hasError": code is not None,
        "httpStatusCode": HTTPStatus(status).phrase.replace(" ", "").replace("-", ""),
    }


def cherwell_error(status: int, code: str, message: str) -> FakeAnswer:
    return json_answer(status, envelope(status, code, message))


def bad_request(message: str) -> FakeAnswer:
    return cherwell_error(400, "BADREQUEST", message)


def sfyc_error(status: int, codigo: str, mensaje: str) -> FakeAnswer:
    return json_answer(status, {"codigo": codigo, "mensaje": mensaje})


def server_error(family: str, message: str) -> FakeAnswer:
    if family == "sfyc":
        return sfyc_error(500, "ERROR_INTERNO", message)
    return cherwell_error(500, "GENERALFAILURE", message)


def unknown_bus_ob(bus_ob_id: str) -> FakeAnswer:
    return cherwell_error(
        500, "GENERALFAILURE", f"Business object with {bus_ob_id} not found\r\nParameter name: BusObId"
    )


def save_item(
    status: int = 200,
    code: str | None = None,
    message: str | None = None,
    record: Record | None = None,
    field_errors: Iterable[dict[str, str]] = (),
) -> dict[str, Any]:
    """One SaveResponse of a batch: the record on success, the error (and field errors) otherwise."""
    return {
        "busObPublicId": record.public_id if record else None,
        "busObRecId": record.rec_id if record else None,
        "cacheKey": None,
        "fieldValidationErrors": list(field_errors),
        "notificationTriggers": [],
        **envelope(status, code, message),
    }


def field_error(field_id: object, error: str, code: str) -> dict[str, str]:
    return {"fieldId": as_text(field_id), "error": error, "errorCode": code}


def order_failed(ticket: str | None, codigo: str, mensaje: str) -> dict[str, Any]:
    return {"ticket": ticket, "ok": False, "codigo": codigo, "mensaje": mensaje}


# --- small parsers --------------------------------------------------------------------------------


def as_text(value: object) -> str:
    """A JSON value as the string the platform stores (all values travel as strings)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def truthy(value: object) -> bool:
    # Some clients send "dirty": "true"; the .NET server coerces it.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def whole_number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and len(value) < 10:
        return int(value)
    return None


def parse_json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested input
        return False, None


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def cherwell_date(timestamp: float) -> str:
    t = time.gmtime(timestamp)
    return f"{t.tm_mon}/{t.tm_mday}/{t.tm_year} {t.tm_hour % 12 or 12}:{t.tm_min:02d}:{t.tm_sec:02d} " + (
        "AM" if t.tm_hour < 12 else "PM"
    )


@frozen
class Request:
    """One routed request, as a handler of the fake sees it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str]  # the path's named groups


def form_fields(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
