"""The fake platform follows contracts/platform-api.md: one test (at least) per rule, through
`FakePlatform.handle`; a few through the ASGI app; one against a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import cli
from connector.ticketing.calls import PlatformCall
from connector.ticketing.fake import (
    CALL_OPERATIONS,
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    AnswerLost,
    FakeAnswer,
    FakePlatform,
    Faults,
    Incident,
    create_app,
)
from connector.ticketing.fake import server as fake_server
from tests.strategies import platform_faults, platform_json, platform_requests, platform_save_bodies

TOKEN = "/CherwellAPI/token"
API = "/CherwellAPI/api/V1"
LOTE = "/SFyC/api/v1/ordenes-trabajo/lote"
ORDENES = "/SFyC/api/v1/ordenes-trabajo"
LOGIN = {
    "grant_type": "password",
    "client_id": DEFAULT_CLIENT_ID,
    "username": DEFAULT_USERNAME,
    "password": DEFAULT_PASSWORD,
}
ENVELOPE = {"errorCode", "errorMessage", "hasError", "httpStatusCode"}
DENIED = {"Message": "Authorization has been denied for this request."}
HEX32, HEX42 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{42}")
NOV_2026 = 1_795_000_000.0  # 2026-11-18, a whole second so that .issued/.expires compare exactly


class FakeClock:
    def __init__(self, now: float = NOV_2026) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Api:
    """A hand-driven client doing what the contract says, ids discovered, never hard-coded."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform
        self.token = ""
        self._bus_ob_ids: dict[str, str] = {}
        self._field_ids: dict[str, dict[str, str]] = {}

    def send(
        self,
        method: str,
        target: str,
        *,
        json_body: Any = None,
        body: bytes = b"",
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FakeAnswer:
        sent = {"Authorization": f"Bearer {self.token}", "X-Api-Key": DEFAULT_API_KEY}
        if json_body is not None:
            body = json.dumps(json_body).encode()
        if form is not None:
            body = urlencode(form).encode()
        return self.platform.handle(method, target, {**sent, **(headers or {})}, body)

    def login(self, **changes: str) -> FakeAnswer:
        answer = self.send("POST", TOKEN, form={**LOGIN, **changes})
        if answer.status == 200:
            self.token = answer.json()["access_token"]
        return answer

    def refresh(self, refresh_token: str, **changes: str) -> FakeAnswer:
        return self.send(
            "POST",
            TOKEN,
            form={
                "grant_type": "refresh_token",
                "client_id": DEFAULT_CLIENT_ID,
                "refresh_token": refresh_token,
                **changes,
            },
        )

    def summary(self, name: str) -> FakeAnswer:
        return self.send("GET", f"{API}/getbusinessobjectsummary/busobname/{name}")

    def schema(self, bus_ob_id: str) -> FakeAnswer:
        return self.send("GET", f"{API}/getbusinessobjectschema/busobid/{bus_ob_id}")

    def bus_ob_id(self, name: str) -> str:
        if name not in self._bus_ob_ids:
            if name == "Journal - Note":
                members = self.summary("Journal").json()[0]["groupSummaries"]
                self._bus_ob_ids[name] = next(m["busObId"] for m in members if m["displayName"] == name)
            else:
                self._bus_ob_ids[name] = self.summary(name).json()[0]["busObId"]
        return self._bus_ob_ids[name]

    def fid(self, bus_ob: str, name: str) -> str:
        if bus_ob not in self._field_ids:
            definitions = self.schema(self.bus_ob_id(bus_ob)).json()["fieldDefinitions"]
            self._field_ids[bus_ob] = {d["name"]: d["fieldId"] for d in definitions}
        return self._field_ids[bus_ob][name]

    def search(self, where: list[tuple[str, str, str]], columns: tuple[str, ...] = (), **extra: Any) -> FakeAnswer:
        """An Incident search by field names; `extra` overrides any member of the body."""
        return self.send(
            "POST",
            f"{API}/getsearchresults",
            json_body={
                "busObId": self.bus_ob_id("Incident"),
                "filters": [{"fieldId": self.fid("Incident", n), "operator": op, "value": v} for n, op, v in where],
                "fields": [self.fid("Incident", n) for n in columns],
                "includeAllFields": False,
                "pageNumber": 1,
                "pageSize": 200,
                **extra,
            },
        )

    def save(self, items: list[dict[str, Any]], **extra: Any) -> FakeAnswer:
        return self.send(
            "POST", f"{API}/savebusinessobjectbatch", json_body={"stopOnError": False, "saveRequests": items, **extra}
        )

    def item(self, bus_ob: str, values: Mapping[str, str], ids: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One save request writing `values` (dirty), on the record named by `ids` or a new one."""
        return {
            "busObId": self.bus_ob_id(bus_ob),
            "persist": True,
            **(ids or {}),
            "fields": [
                {"dirty": True, "fieldId": self.fid(bus_ob, name), "name": name, "value": value}
                for name, value in values.items()
            ],
        }

    def new_incident(self, **values: str) -> dict[str, Any]:
        return self.item(
            "Incident",
            {"Category": "SNR", "ShortDescription": "SNR bajo", "Priority": "2", "Node": "GDL-ZAP-NODO-0142", **values},
        )

    def new_note(self, parent_rec_id: str, details: str = "[WM-1] SNR bajo", **values: str) -> dict[str, Any]:
        return self.item(
            "Journal - Note",
            {"ParentRecID": parent_rec_id, "ParentTypeID": self.bus_ob_id("Incident"), "Details": details, **values},
        )

    def orders(self, orders: list[Any]) -> FakeAnswer:
        return self.send("POST", LOTE, json_body={"ordenes": orders})

    def lookup(self, tickets: list[str]) -> FakeAnswer:
        return self.send("GET", ORDENES + "?" + urlencode([("ticket", t) for t in tickets]))


def order(ticket: str, **changes: Any) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "referencia": "WM-20261126-000101",
        "categoria": "SNR",
        "nodo": "GDL-ZAP-NODO-0142",
        "descripcion": "SNR bajo",
        "prioridad": 2,
        **changes,
    }


def token_error(answer: FakeAnswer) -> dict[str, str]:
    """A token error body, read both ways the real server sends it."""
    body = answer.json()
    error: dict[str, str] = json.loads(body) if isinstance(body, str) else body
    return error


def existing(platform: FakePlatform, key: str) -> Incident:
    incident = platform.incident(key)
    assert incident is not None, f"no incident {key}"
    return incident


def public_ids(answer: FakeAnswer) -> list[str]:
    return [row["busObPublicId"] for row in answer.json()["businessObjects"]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> FakePlatform:
    return FakePlatform(seed=0, clock=clock)


@pytest.fixture
def api(platform: FakePlatform) -> Api:
    client = Api(platform)
    assert client.login().status == 200
    client.fid("Incident", "RecID"), client.fid("Journal - Note", "RecID")  # ids known before faults start
    return client


# --- token ----------------------------------------------------------------------------------------


def test_password_grant_issues_a_bearer_token_for_1199_seconds(platform: FakePlatform, clock: FakeClock) -> None:
    answer = Api(platform).login()
    body = answer.json()
    assert answer.status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 1199
    assert body["access_token"] and body["refresh_token"]
    assert (body["as:client_id"], body["username"]) == (DEFAULT_CLIENT_ID, DEFAULT_USERNAME)
    issued, expires = (email.utils.parsedate_to_datetime(body[k]) for k in (".issued", ".expires"))
    assert issued.timestamp() == clock.now and (expires - issued).total_seconds() == 1199


def test_auth_mode_is_ignored_in_the_form_and_in_the_query(platform: FakePlatform) -> None:
    answer = Api(platform).send("POST", TOKEN + "?auth_mode=Internal&api_key=x", form={**LOGIN, "auth_mode": "LDAP"})
    assert answer.status == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_client_id"),
        ({"password": "wrong"}, "invalid_grant"),
        ({"username": "nobody"}, "invalid_grant"),
    ],
)
def test_bad_credentials_give_400_with_the_oauth_error(
    platform: FakePlatform, change: dict[str, str], error: str
) -> None:
    answer = Api(platform).login(**change)
    assert answer.status == 400
    assert token_error(answer)["error"] == error
    assert token_error(answer)["error_description"]


def test_token_errors_come_as_an_object_or_as_a_json_string_by_seeded_choice() -> None:
    def kinds(seed: int, faults: Faults | None = None) -> list[type]:
        api = Api(FakePlatform(seed=seed, faults=faults))
        return [type(api.login(password="wrong").json()) for _ in range(30)]

    assert set(kinds(3)) == {dict, str}
    assert kinds(3) == kinds(3)
    assert set(kinds(3, Faults(quoted_token_error_rate=1.0))) == {str}
    assert set(kinds(3, Faults(quoted_token_error_rate=0.0))) == {dict}


def test_refresh_rotates_the_refresh_token(platform: FakePlatform) -> None:
    api = Api(platform)
    first = api.login().json()
    second = api.refresh(first["refresh_token"]).json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    api.token = second["access_token"]
    assert api.summary("Incident").status == 200
    reused = api.refresh(first["refresh_token"])
    assert reused.status == 400 and token_error(reused)["error"] == "invalid_grant"
    assert token_error(api.refresh(second["refresh_token"], client_id="other"))["error"] == "invalid_client_id"
    assert api.refresh(second["refresh_token"]).status == 200
    assert (platform.requests["login"], platform.requests["refresh"]) == (1, 4)


API_V1_CALLS = [
    ("GET", f"{API}/getbusinessobjectsummary/busobname/Incident"),
    ("GET", f"{API}/getbusinessobjectschema/busobid/{'0' * 32}"),
    ("POST", f"{API}/getsearchresults"),
    ("POST", f"{API}/savebusinessobjectbatch"),
]


@pytest.mark.parametrize(("method", "path"), API_V1_CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic eDp5", "{token}"])
def test_every_api_v1_call_needs_a_bearer_token(api: Api, method: str, path: str, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization.format(token=api.token)}
    answer = api.platform.handle(method, path, headers, b"{}")
    assert (answer.status, answer.json()) == (401, DENIED)


def test_the_access_token_expires_after_expires_in(api: Api, clock: FakeClock) -> None:
    clock.now += 1198
    assert api.summary("Incident").status == 200
    clock.now += 1
    assert api.summary("Incident").status == 401


def test_token_ttl_sets_the_lifetime_of_new_tokens(platform: FakePlatform, clock: FakeClock) -> None:
    platform.faults = Faults(token_ttl=30)
    api = Api(platform)
    assert api.login().json()["expires_in"] == 30
    clock.now += 30
    assert api.summary("Incident").status == 401


def test_revoke_tokens_kills_every_access_token_and_a_new_login_works(platform: FakePlatform) -> None:
    first, second = Api(platform), Api(platform)
    refresh_token = first.login().json()["refresh_token"]
    second.login()
    assert platform.revoke_tokens() == 2
    assert first.summary("Incident").status == second.summary("Incident").status == 401
    first.token = first.refresh(refresh_token).json()["access_token"]  # refresh tokens survive a revoke
    second.login()
    assert first.summary("Incident").status == second.summary("Incident").status == 200


# --- envelope and metadata ------------------------------------------------------------------------


def test_every_json_object_answer_of_api_v1_carries_the_envelope(api: Api) -> None:
    incident = api.bus_ob_id("Incident")
    answers = {
        "OK": [api.schema(incident), api.search([]), api.save([api.new_incident()])],
        "InternalServerError": [api.schema("f" * 32)],
        "BadRequest": [api.send("POST", f"{API}/getsearchresults", body=b"{"), api.search([], pageSize=0)],
    }
    for status_name, group in answers.items():
        for answer in group:
            assert set(answer.json()) >= ENVELOPE and answer.json()["httpStatusCode"] == status_name


def test_summary_finds_incident_and_the_journal_note_member_by_display_name(api: Api, platform: FakePlatform) -> None:
    [incident] = api.summary("Incident").json()
    assert incident["name"] == "Incident" and HEX32.fullmatch(incident["busObId"])
    assert api.summary("incident").json()[0]["busObId"] == incident["busObId"]  # names ignore case
    [journal] = api.summary("Journal").json()
    members = {m["displayName"]: m["busObId"] for m in journal["groupSummaries"]}
    assert len(members) > 1 and members["Journal - Note"] == platform.bus_ob_ids["JournalNote"]


def test_an_unknown_business_object_name_is_an_empty_list(api: Api) -> None:
    answer = api.summary("WorkOrder")
    assert (answer.status, answer.json()) == (200, [])


def test_the_schema_lists_42_hex_field_ids_and_the_required_fields(api: Api) -> None:
    schema = api.schema(api.bus_ob_id("Incident")).json()
    definitions = {d["name"]: d for d in schema["fieldDefinitions"]}
    assert set(definitions) == {
        "RecID",
        "IncidentID",
        "Status",
        "Category",
        "ShortDescription",
        "Description",
        "Priority",
        "Node",
        "ExternalID",
        "OTNumber",
        "Source",
        "CreatedDateTime",
    }
    assert all(HEX42.fullmatch(d["fieldId"]) and d["displayName"] and d["type"] for d in definitions.values())
    assert {n for n, d in definitions.items() if d["required"]} == {"Category", "ShortDescription", "Priority"}
    note = api.schema(api.bus_ob_id("Journal - Note")).json()["fieldDefinitions"]
    assert {d["name"] for d in note if d["required"]} == {"ParentRecID", "ParentTypeID", "Details"}


def test_an_unknown_bus_ob_id_is_a_500_generalfailure(api: Api) -> None:
    answer = api.schema("f" * 32)
    assert answer.status == 500 and answer.json()["errorCode"] == "GENERALFAILURE" and answer.json()["hasError"]


def test_ids_come_from_the_seed_so_platforms_do_not_share_them() -> None:
    one, other, again = FakePlatform(seed=1), FakePlatform(seed=2), FakePlatform(seed=1)
    assert not set(one.bus_ob_ids.values()) & set(other.bus_ob_ids.values())
    assert not set(one.field_ids("Incident").values()) & set(other.field_ids("Incident").values())
    assert (one.bus_ob_ids, one.field_ids("Incident")) == (again.bus_ob_ids, again.field_ids("Incident"))


# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded(platform: FakePlatform) -> list[str]:
    """102400..102403: open SNR, open Falla de Linea, closed SNR, a legacy category."""
    return [
        i.incident_id
        for i in (
            platform.add_incident("SNR", "GDL-ZAP-NODO-0142", external_id="WM-1"),
            platform.add_incident("Falla de Linea", "GDL-TLQ-SG-DS-0031", status="Assigned", external_id="WM-2"),
            platform.add_incident("SNR", "MTY-SPG-NODO-0007", status="Closed"),
            platform.add_incident("Red", "QRO-CEN-NODO-0001"),
        )
    ]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("eq", "gdl-zap-nodo-0142", [0]),  # eq ignores case
        ("contains", "NODO", [0, 2, 3]),
        ("contains", "nodo", []),  # the other operators do not
        ("startswith", "GDL", [0, 1]),
        ("startswith", "gdl", []),
        ("gt", "MTY", [2, 3]),
        ("lt", "GDL-Z", [1]),
    ],
)
def test_search_operators(api: Api, seeded: list[str], operator: str, value: str, expected: list[int]) -> None:
    assert public_ids(api.search([("Node", operator, value)])) == [seeded[i] for i in expected]


def test_filters_on_one_field_are_ored_and_on_different_fields_anded(api: Api, seeded: list[str]) -> None:
    categories = [("Category", "eq", "Falla de Linea"), ("Category", "eq", "SNR")]
    assert public_ids(api.search(categories)) == seeded[:3]
    states = [("Status", "eq", s) for s in ("New", "Assigned", "In Progress", "Pending")]
    assert public_ids(api.search(categories + states)) == seeded[:2]


def test_an_unsupported_operator_is_a_400(api: Api, seeded: list[str]) -> None:
    answer = api.search([("Category", "ne", "SNR")])
    assert answer.status == 400 and answer.json()["errorCode"] == "BADREQUEST"


def test_results_carry_the_requested_fields_only(api: Api, seeded: list[str], platform: FakePlatform) -> None:
    [row] = api.search([("ExternalID", "eq", "WM-2")], columns=("IncidentID", "ExternalID")).json()["businessObjects"]
    incident = existing(platform, seeded[1])
    assert (row["busObId"], row["busObPublicId"], row["busObRecId"]) == (
        api.bus_ob_id("Incident"),
        incident.incident_id,
        incident.rec_id,
    )
    assert [(f["fieldId"], f["name"], f["value"]) for f in row["fields"]] == [
        (api.fid("Incident", "IncidentID"), "IncidentID", seeded[1]),
        (api.fid("Incident", "ExternalID"), "ExternalID", "WM-2"),
    ]
    everything = api.search([("ExternalID", "eq", "WM-2")], includeAllFields=True).json()["businessObjects"][0]
    assert len(everything["fields"]) == 12


def test_field_ids_may_come_in_their_full_form(api: Api, seeded: list[str]) -> None:
    incident = api.bus_ob_id("Incident")
    full = f"BO:{incident},FI:{api.fid('Incident', 'ExternalID')}"
    answer = api.search([], fields=[full], filters=[{"fieldId": full, "operator": "eq", "value": "WM-1"}])
    assert public_ids(answer) == [seeded[0]]
    assert answer.json()["businessObjects"][0]["fields"][0]["value"] == "WM-1"
    foreign = f"BO:{api.bus_ob_id('Journal - Note')},FI:{api.fid('Incident', 'ExternalID')}"
    assert api.search([], filters=[{"fieldId": foreign, "operator": "eq", "value": "WM-1"}]).status == 500


def test_pages_start_at_1_with_total_rows_and_has_more_records(api: Api, platform: FakePlatform) -> None:
    platform.seed_incidents(7)
    pages = [api.search([], pageSize=3, pageNumber=n).json() for n in (1, 2, 3, 4)]
    assert [p["totalRows"] for p in pages] == [7] * 4
    assert [p["hasMoreRecords"] for p in pages] == [True, True, False, False]
    rec_ids = [row["busObRecId"] for p in pages for row in p["businessObjects"]]
    assert rec_ids == [i.rec_id for i in platform.incidents]


def test_page_size_is_at_most_500(api: Api) -> None:
    assert api.search([], pageSize=500).status == 200
    answer = api.search([], pageSize=501)
    assert answer.status == 400 and answer.json()["errorCode"] == "BADREQUEST"


# --- save -----------------------------------------------------------------------------------------


def test_create_ticket_makes_a_new_incident(api: Api, platform: FakePlatform) -> None:
    answer = api.save(
        [
            api.new_incident(ExternalID="WM-1", Source="DataMiner Ticketing BE", Description="d"),
            api.new_incident(ExternalID="WM-2"),
        ]
    )
    first, second = answer.json()["responses"]
    assert answer.status == 200 and not first["hasError"]
    assert (first["busObPublicId"], second["busObPublicId"]) == ("102400", "102401")
    assert HEX42.fullmatch(first["busObRecId"])
    incident = existing(platform, "102400")
    assert (incident.rec_id, incident.status, incident.external_id, incident.source) == (
        first["busObRecId"],
        "New",
        "WM-1",
        "DataMiner Ticketing BE",
    )
    assert incident.created_date_time == "11/18/2026 11:06:40 AM"
    assert (platform.requests["save_batch"], platform.requests["create_ticket"]) == (1, 2)


def test_only_dirty_fields_are_written(api: Api, platform: FakePlatform) -> None:
    item = api.new_incident()
    item["fields"] += [
        {"dirty": "true", "fieldId": api.fid("Incident", "ExternalID"), "value": "WM-9"},
        {"dirty": False, "fieldId": api.fid("Incident", "Description"), "value": "ignored"},
        {"fieldId": api.fid("Incident", "Source"), "value": "ignored"},
    ]
    assert not api.save([item]).json()["hasError"]
    [incident] = platform.incidents
    assert (incident.external_id, incident.description, incident.source) == ("WM-9", "", "")


def test_a_bad_item_fails_alone_and_the_top_level_repeats_the_first_error(api: Api, platform: FakePlatform) -> None:
    no_priority = api.new_incident()
    no_priority["fields"] = [f for f in no_priority["fields"] if f["name"] != "Priority"]
    items = [api.new_incident(), no_priority, api.new_incident(Category="Otra"), api.new_incident()]
    answer = api.save(items)
    body = answer.json()
    assert answer.status == 200
    assert [r["hasError"] for r in body["responses"]] == [False, True, True, False]
    missing, invalid = body["responses"][1], body["responses"][2]
    assert missing["fieldValidationErrors"] == [
        {"fieldId": api.fid("Incident", "Priority"), "error": "Priority is required", "errorCode": "REQUIRED"}
    ]
    assert invalid["fieldValidationErrors"][0]["fieldId"] == api.fid("Incident", "Category")
    assert (body["hasError"], body["errorCode"], body["errorMessage"]) == (
        True,
        missing["errorCode"],
        missing["errorMessage"],
    )
    assert [r["busObPublicId"] for r in body["responses"]] == ["102400", None, None, "102401"]


@pytest.mark.parametrize("key", ["busObRecId", "busObPublicId"])
def test_update_ticket_ot_by_rec_id_or_public_id(api: Api, platform: FakePlatform, key: str) -> None:
    incident = platform.add_incident("SNR", "N1")
    record = {"busObRecId": incident.rec_id.upper(), "busObPublicId": incident.incident_id}[key]
    response = api.save([api.item("Incident", {"OTNumber": "OT-2026-000001"}, {key: record})]).json()["responses"][0]
    assert not response["hasError"] and response["busObRecId"] == incident.rec_id
    assert existing(platform, incident.incident_id).ot_number == "OT-2026-000001"
    assert platform.requests["update_ticket_ot"] == 1 and len(platform.incidents) == 1


def test_an_unknown_record_in_a_batch_is_a_recordnotfound_item(api: Api, platform: FakePlatform) -> None:
    body = api.save([api.item("Incident", {"OTNumber": "OT-1"}, {"busObRecId": "a" * 42}), api.new_incident()]).json()
    assert [(r["hasError"], r["errorCode"]) for r in body["responses"]] == [(True, "RECORDNOTFOUND"), (False, None)]
    assert body["errorCode"] == "RECORDNOTFOUND" and len(platform.incidents) == 1


def test_a_note_needs_an_existing_incident_its_type_and_details(api: Api, platform: FakePlatform) -> None:
    incident = platform.add_incident("SNR", "N1")
    good = api.new_note(incident.rec_id, "[WM-20261126-000101] SNR bajo en N1")
    bad_parent = api.new_note("b" * 42)
    bad_type = api.new_note(incident.rec_id, ParentTypeID=api.bus_ob_id("Journal - Note"))
    no_details = api.new_note(incident.rec_id, "")
    body = api.save([good, bad_parent, bad_type, no_details]).json()
    assert [r["hasError"] for r in body["responses"]] == [False, True, True, True]
    [note] = platform.notes_for(incident.rec_id)
    assert note.details == "[WM-20261126-000101] SNR bajo en N1" and note.rec_id == body["responses"][0]["busObRecId"]
    assert platform.requests["add_note"] == 4


def test_read_only_fields_refuse_a_write(api: Api, platform: FakePlatform) -> None:
    response = api.save([api.new_incident(IncidentID="1")]).json()["responses"][0]
    assert response["hasError"] and response["fieldValidationErrors"][0]["errorCode"] == "READONLY"
    assert not platform.incidents


def test_at_most_200_save_requests_per_batch(api: Api, platform: FakePlatform) -> None:
    answer = api.save([api.new_incident()] * 201)
    assert answer.status == 400 and answer.json()["errorCode"] == "BADREQUEST" and not platform.incidents
    assert api.save([api.new_incident()] * 200).status == 200 and len(platform.incidents) == 200


def test_malformed_json_is_a_400_badrequest_envelope(api: Api) -> None:
    answer = api.send("POST", f"{API}/savebusinessobjectbatch", body=b'{"saveRequests": [')
    assert answer.status == 400
    assert answer.json() == {
        "errorCode": "BADREQUEST",
        "errorMessage": answer.json()["errorMessage"],
        "hasError": True,
        "httpStatusCode": "BadRequest",
    }


def test_stop_on_error_stops_after_the_first_failure(api: Api, platform: FakePlatform) -> None:
    body = api.save([api.new_incident(Category="Otra"), api.new_incident()], stopOnError=True).json()
    assert len(body["responses"]) == 1 and not platform.incidents


def test_a_200_item_batch_takes_a_few_milliseconds(api: Api) -> None:
    body = json.dumps({"saveRequests": [api.new_incident(ExternalID=f"WM-{i}") for i in range(200)]}).encode()
    durations = []
    for _ in range(3):
        started = time.perf_counter()
        api.send("POST", f"{API}/savebusinessobjectbatch", body=body)
        durations.append(time.perf_counter() - started)
    assert min(durations) < 0.05


# --- SFyC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong"])
@pytest.mark.parametrize(("method", "target"), [("POST", LOTE), ("GET", ORDENES + "?ticket=102400")])
def test_sfyc_needs_the_api_key(platform: FakePlatform, key: str | None, method: str, target: str) -> None:
    answer = platform.handle(method, target, {} if key is None else {"X-Api-Key": key}, b'{"ordenes": []}')
    assert answer.status == 401 and answer.json()["codigo"] == "NO_AUTORIZADO" and answer.json()["mensaje"]


def test_work_orders_are_created_per_order_in_order(api: Api, platform: FakePlatform) -> None:
    incident = platform.add_incident("SNR", "N1")
    answer = api.orders([order(incident.incident_id), order(incident.incident_id, nodo=""), order("999999")])
    ok, missing, unknown = answer.json()["resultados"]
    assert answer.status == 200
    assert ok["ok"] and ok["ticket"] == incident.incident_id and re.fullmatch(r"OT-2026-\d{6}", ok["ot"])
    assert (missing["ok"], missing["codigo"]) == (False, "CAMPO_REQUERIDO") and "nodo" in missing["mensaje"]
    assert (unknown["ok"], unknown["ticket"], unknown["codigo"]) == (False, "999999", "TICKET_NO_EXISTE")


def test_sfyc_does_not_deduplicate(api: Api, platform: FakePlatform) -> None:
    ticket = platform.add_incident("SNR", "N1").incident_id
    first, second = (api.orders([order(ticket)]).json()["resultados"][0]["ot"] for _ in range(2))
    assert first != second and [o.ot for o in platform.orders_for(ticket)] == [first, second]


def test_at_most_200_orders_per_batch(api: Api, platform: FakePlatform) -> None:
    ticket = platform.add_incident("SNR", "N1").incident_id
    assert api.orders([order(ticket)] * 201).status == 400 and not platform.work_orders
    assert all(r["ok"] for r in api.orders([order(ticket)] * 200).json()["resultados"])


def test_a_malformed_order_batch_is_a_400_with_codigo(api: Api) -> None:
    answer = api.send("POST", LOTE, body=b"[")
    assert answer.status == 400 and set(answer.json()) == {"codigo", "mensaje"}


def test_work_orders_are_looked_up_by_several_tickets(api: Api, platform: FakePlatform) -> None:
    tickets = [platform.add_incident("SNR", f"N{i}").incident_id for i in range(3)]
    for ticket in tickets:
        api.orders([order(ticket, referencia=f"WM-{ticket}")])
    found = api.lookup(tickets[:2]).json()["ordenes"]
    assert [(o["ticket"], o["referencia"], o["estado"]) for o in found] == [
        (t, f"WM-{t}", "Abierta") for t in tickets[:2]
    ]
    assert [o["ot"] for o in found] == [platform.orders_for(t)[0].ot for t in tickets[:2]]
    assert api.lookup(["1"] * 200).status == 200
    assert api.lookup(["1"] * 201).status == 400 and api.send("GET", ORDENES).status == 400


# --- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/cherwellapi/API/v1/GetBusinessObjectSummary/BusObName/Incident",
        f"{API}/getbusinessobjectsummary/busobname/Incident/",
    ],
)
def test_paths_ignore_case_and_a_trailing_slash(api: Api, target: str) -> None:
    assert api.send("GET", target).json()[0]["name"] == "Incident"


def test_unknown_paths_are_404_and_wrong_methods_405(api: Api) -> None:
    assert api.send("GET", f"{API}/getbusinessobject/busobid/x").status == 404
    assert api.send("GET", "/SFyC/api/v1/nada").status == 404
    assert api.send("GET", f"{API}/getsearchresults").status == 405
    assert api.send("DELETE", LOTE).status == 405


# --- faults ---------------------------------------------------------------------------------------


def test_error_rate_answers_500_and_half_the_time_after_applying(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(error_rate=1.0)
    answers = [api.save([api.new_incident()]) for _ in range(20)]
    assert {a.status for a in answers} == {500}
    assert {a.json()["errorCode"] for a in answers} == {"GENERALFAILURE"}
    assert 0 < len(platform.incidents) < 20
    assert api.lookup(["1"]).json()["codigo"] == "ERROR_INTERNO"


def test_html_503_is_an_html_page_and_applies_nothing(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(html_503_rate=1.0)
    answer = api.save([api.new_incident()])
    assert answer.status == 503 and answer.headers["content-type"].startswith("text/html")
    assert answer.body.startswith(b"<!DOCTYPE html>") and not platform.incidents


def test_a_lost_answer_was_applied(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(lost_rate=1.0)
    assert api.save([api.new_incident()]).lost and len(platform.incidents) == 1


def test_latency_is_the_delay_of_every_answer(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(latency=2.5)
    assert api.summary("Incident").delay == api.lookup(["1"]).delay == 2.5


def test_malformed_rate_gives_a_200_with_invalid_json(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(malformed_rate=1.0)
    answer = api.save([api.new_incident()])
    assert answer.status == 200 and len(platform.incidents) == 1
    with pytest.raises(ValueError):
        answer.json()


def test_item_error_rate_fails_items_inside_a_200(api: Api, platform: FakePlatform) -> None:
    ticket = platform.add_incident("SNR", "N1").incident_id
    platform.faults = Faults(item_error_rate=1.0)
    saved, ordered = api.save([api.new_incident()] * 3), api.orders([order(ticket)] * 3)
    assert saved.status == ordered.status == 200
    assert all(r["hasError"] for r in saved.json()["responses"])
    assert all(not r["ok"] and r["codigo"] == "ERROR_INTERNO" for r in ordered.json()["resultados"])
    assert len(platform.incidents) == 1 and not platform.work_orders


def test_fail_operation_fails_the_named_items_and_no_others(api: Api, platform: FakePlatform) -> None:
    incident = platform.add_incident("SNR", "N1")
    platform.faults = Faults(fail_operation={"create_ticket": "Cherwell rechaza altas", "ot_create": "SFyC caido"})
    body = api.save([api.new_incident(), api.new_note(incident.rec_id)]).json()
    assert [(r["hasError"], r["errorMessage"]) for r in body["responses"]] == [
        (True, "Cherwell rechaza altas"),
        (False, None),
    ]
    assert body["errorMessage"] == "Cherwell rechaza altas"
    [result] = api.orders([order(incident.incident_id)]).json()["resultados"]
    assert not result["ok"] and result["mensaje"] == "SFyC caido"
    update = api.item("Incident", {"OTNumber": "OT-1"}, {"busObRecId": incident.rec_id})
    platform.faults = Faults(fail_operation={"update_ticket_ot": "no"})
    assert api.save([update]).json()["responses"][0]["errorMessage"] == "no"
    assert [platform.requests[op] for op in ("create_ticket", "add_note", "update_ticket_ot")] == [1, 1, 1]


def test_fail_operation_fails_a_whole_call_for_call_operations(api: Api, platform: FakePlatform) -> None:
    platform.faults = Faults(fail_operation={"search": "indice roto", "login": "cuenta bloqueada"})
    search = api.search([])
    assert (search.status, search.json()["errorMessage"]) == (500, "indice roto")
    login = api.login()
    assert login.status == 400
    assert token_error(login) == {"error": "invalid_grant", "error_description": "cuenta bloqueada"}


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="ot_creat"):
        Faults(fail_operation={"ot_creat": "typo"})
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="unknown fault fields"):
        Faults.from_json({"errors": 1})
    assert Faults.from_json(Faults(lost_rate=0.5, fail_operation={"login": "x"}).to_json()) == Faults(
        lost_rate=0.5, fail_operation={"login": "x"}
    )


def test_faults_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[tuple[int, bool, bytes]]:
        platform = FakePlatform(seed=seed)
        api = Api(platform)
        api.login()
        item = api.new_incident()  # discovers the ids before anything fails
        platform.faults = Faults(error_rate=0.3, lost_rate=0.3, malformed_rate=0.3)
        answers = [api.save([item]) for _ in range(10)] + [api.send("POST", TOKEN, form=LOGIN) for _ in range(5)]
        return [(a.status, a.lost, a.body) for a in answers]

    assert run(5) == run(5) and run(5) != run(6)


def test_faults_spare_404s_and_the_test_helpers(platform: FakePlatform) -> None:
    platform.faults = Faults(error_rate=1.0, html_503_rate=1.0, lost_rate=1.0, latency=9.0)
    answer = platform.handle("GET", "/nowhere", {}, b"")
    assert (answer.status, answer.lost, answer.delay) == (404, False, 0.0)
    incident = platform.add_incident("SNR", "N1")
    platform.add_note(incident.rec_id, "[WM-1] x")
    platform.add_work_order(incident.incident_id, "WM-1")
    platform.seed_incidents(2)
    assert len(platform.incidents) == 3 and not platform.injected


def test_requests_are_counted_by_operation_and_logged(api: Api, platform: FakePlatform) -> None:
    before, logged = platform.requests, len(platform.log)
    incident = api.bus_ob_id("Incident")
    for answer in (
        api.summary("Incident"),
        api.schema(incident),
        api.search([]),
        api.save([]),
        api.orders([]),
        api.lookup(["1"]),
        api.send("GET", "/nowhere"),
    ):
        assert answer.status in (200, 404)
    after = platform.requests
    assert {op: after[op] - before[op] for op in CALL_OPERATIONS} == {
        "login": 0,
        "refresh": 0,
        "summary": 1,
        "schema": 1,
        "search": 1,
        "save_batch": 1,
        "ot_create": 1,
        "ot_lookup": 1,
    }
    assert platform.log[0] == ("POST", TOKEN, 200)
    assert list(platform.log[logged:]) == [
        ("GET", f"{API}/getbusinessobjectsummary/busobname/Incident", 200),
        ("GET", f"{API}/getbusinessobjectschema/busobid/{incident}", 200),
        ("POST", f"{API}/getsearchresults", 200),
        ("POST", f"{API}/savebusinessobjectbatch", 200),
        ("POST", LOTE, 200),
        ("GET", ORDENES, 200),
        ("GET", "/nowhere", 404),
    ]


# --- seeding and inspection -----------------------------------------------------------------------


def test_seeded_incidents_are_valid_and_reproducible() -> None:
    first = FakePlatform(seed=1).seed_incidents(20, seed=7)
    second = FakePlatform(seed=2).seed_incidents(20, seed=7)
    assert [(i.category, i.node, i.status) for i in first] == [(i.category, i.node, i.status) for i in second]
    assert {i.category for i in first} == {"SNR", "Falla de Linea"} and any(i.is_open for i in first)
    assert [i.incident_id for i in first] == [str(102400 + n) for n in range(20)]


def test_inspection_helpers(platform: FakePlatform) -> None:
    one = platform.add_incident("SNR", "N1", external_id="WM-1")
    platform.add_incident("SNR", "N2", external_id="WM-1")
    platform.add_note(one.rec_id.upper(), "[WM-3] x")
    platform.add_work_order(one.incident_id, "WM-1")
    assert [len(v) for v in platform.incidents_by_external_id().values()] == [2]
    assert [n.details for n in platform.notes_for(one.rec_id)] == ["[WM-3] x"]
    assert [o.referencia for o in platform.orders_for(one.incident_id)] == ["WM-1"]
    assert platform.incident(one.incident_id) == platform.incident(one.rec_id) == one
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        one.status = "Closed"  # type: ignore[misc]


def test_call_maps_platform_calls_to_replies(platform: FakePlatform) -> None:
    login = PlatformCall(
        session="login",
        method="POST",
        path=TOKEN,
        body=urlencode(LOGIN),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    reply = platform.call(login)
    assert reply.ok and reply.reason == "OK" and json.loads(reply.body)["token_type"] == "bearer"
    ticket = platform.add_incident("SNR", "N1").incident_id
    create = PlatformCall(
        session="create_ot",
        method="POST",
        path=LOTE,
        headers={"X-Api-Key": DEFAULT_API_KEY},
        body=json.dumps({"ordenes": [order(ticket)]}),
    )
    platform.faults = Faults(lost_rate=1.0)
    assert (platform.call(create).status, platform.call(create).error) == (0, "lost")
    platform.faults = Faults(latency=5.0)
    late = platform.call(create, timeout=1.0)
    assert (late.status, late.error, late.maybe_applied) == (0, "timeout", True)
    assert platform.call(create, timeout=10.0).ok
    assert len(platform.orders_for(ticket)) == 4  # lost and timed-out writes were applied


# --- over HTTP --------------------------------------------------------------------------------------


def test_the_asgi_app_serves_the_platform_and_the_control_api(platform: FakePlatform) -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=create_app(platform))
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            token = (await client.post(TOKEN + "?auth_mode=Internal", data=LOGIN)).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            seeded = (await client.post("/_fake/seed", json={"incidents": 3})).json()["created"]
            incident = (await client.get(f"{API}/getbusinessobjectsummary/busobname/Incident", headers=bearer)).json()
            found = await client.post(
                f"{API}/getsearchresults", headers=bearer, json={"busObId": incident[0]["busObId"], "pageSize": 10}
            )
            assert [r["busObPublicId"] for r in found.json()["businessObjects"]] == seeded
            assert (await client.put("/_fake/faults", json={"lost_rate": 1.0})).status_code == 200
            with pytest.raises(AnswerLost):
                await client.get(ORDENES, params={"ticket": seeded[0]}, headers={"X-Api-Key": DEFAULT_API_KEY})
            assert (await client.put("/_fake/faults", json={"bogus": 1})).status_code == 400
            assert (await client.put("/_fake/faults", json={"error_rate": 2})).status_code == 400
            assert (await client.put("/_fake/faults", json={})).json() == Faults().to_json()
            assert (await client.post("/_fake/revoke")).json() == {"revoked": 1}
            summary = await client.get(f"{API}/getbusinessobjectsummary/busobname/Incident", headers=bearer)
            assert summary.status_code == 401
            assert (await client.post("/_fake/seed", json={"incidents": -1})).status_code == 400
            state = await client.get("/_fake/state")
            assert state.json()["counts"] == {"incidents": 3, "notes": 0, "work_orders": 0}
            assert state.json()["requests"]["ot_lookup"] == 1 and len(state.json()["incidents"]) == 3
            assert DEFAULT_PASSWORD not in state.text and DEFAULT_API_KEY not in state.text

    asyncio.run(scenario())


def test_connector_platform_hands_its_options_to_serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        fake_server, "serve", lambda host, port, **options: calls.append({"host": host, "port": port, **options})
    )
    assert cli.main(["platform", "--port", "9001", "--seed", "4", "--incidents", "5", "--password", "s3cret"]) == 0
    assert cli.main(["platform"]) == 0
    assert calls[0] | {"password": "?"} == {
        "host": "127.0.0.1",
        "port": 9001,
        "seed": 4,
        "incidents": 5,
        "client_id": DEFAULT_CLIENT_ID,
        "username": DEFAULT_USERNAME,
        "password": "?",
        "api_key": DEFAULT_API_KEY,
        "log_level": "info",
    }
    assert calls[0]["password"] == "s3cret" and (calls[1]["port"], calls[1]["seed"]) == (8980, 0)
    assert "s3cret" not in capsys.readouterr().err


@contextlib.contextmanager
def running_server(platform: FakePlatform) -> Iterator[str]:
    """The app on a real uvicorn server, on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(platform), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.slow
def test_a_real_server_drops_lost_answers_and_delays_past_the_client_timeout() -> None:
    platform = FakePlatform(seed=0)
    ticket = platform.add_incident("SNR", "N1").incident_id
    key = {"X-Api-Key": DEFAULT_API_KEY}
    with running_server(platform) as base_url, httpx.Client(base_url=base_url, timeout=5.0) as client:
        assert client.post(LOTE, json={"ordenes": [order(ticket)]}, headers=key).status_code == 200
        platform.faults = Faults(lost_rate=1.0)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(LOTE, json={"ordenes": [order(ticket)]}, headers=key)
        platform.faults = Faults(latency=1.0)
        with pytest.raises(httpx.ReadTimeout):
            client.post(LOTE, json={"ordenes": [order(ticket)]}, headers=key, timeout=0.2)
        platform.faults = Faults()
        found = client.get(ORDENES, params={"ticket": ticket}, headers=key).json()["ordenes"]
    assert len(found) == 3  # the lost and the timed-out creates happened


# --- properties -----------------------------------------------------------------------------------

REFERENCE = FakePlatform(seed=0)
REFERENCE_INCIDENTS = [REFERENCE.add_incident("SNR", f"N{i}") for i in range(2)]
REFERENCE_TOKEN = Api(REFERENCE).login().json()["access_token"]  # seed 0's first token, on every seed-0 platform


def fresh_platform() -> FakePlatform:
    """A seed-0 platform in REFERENCE's state, so the strategies' ids and token hold for it."""
    platform = FakePlatform(seed=0)
    for incident in REFERENCE_INCIDENTS:
        platform.add_incident(incident.category, incident.node)
    Api(platform).login()
    return platform


SCHEMAS = {
    REFERENCE.bus_ob_ids[name]: list(REFERENCE.field_ids(name).values())
    for name in ("Incident", "JournalNote", "Journal")
}
REFERENCE_REQUESTS = platform_requests(
    token=REFERENCE_TOKEN,
    api_key=DEFAULT_API_KEY,
    schemas=SCHEMAS,
    rec_ids=[i.rec_id for i in REFERENCE_INCIDENTS],
    tickets=[i.incident_id for i in REFERENCE_INCIDENTS],
    credentials=(DEFAULT_CLIENT_ID, DEFAULT_USERNAME, DEFAULT_PASSWORD),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=REFERENCE_REQUESTS, faults=platform_faults())
def test_the_core_answers_any_request_with_http(
    request: tuple[str, str, dict[str, str], bytes], faults: Faults
) -> None:
    platform = fresh_platform()
    platform.faults = faults
    answer = platform.handle(*request)
    assert 100 <= answer.status < 600 and answer.reason and isinstance(answer.body, bytes)
    if answer.headers["content-type"].startswith("application/json") and not platform.injected["malformed"]:
        json.loads(answer.body)  # every JSON answer is whole unless the fault cut it


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=platform_save_bodies(SCHEMAS, [i.rec_id for i in REFERENCE_INCIDENTS]).filter(
        lambda body: isinstance(body["saveRequests"], list)
    )
)
def test_a_save_batch_answers_every_item_in_order(body: dict[str, Any]) -> None:
    platform = fresh_platform()
    before = {i.rec_id for i in platform.incidents} | {n.rec_id for n in platform.notes}
    answer = platform.handle(
        "POST",
        f"{API}/savebusinessobjectbatch",
        {"Authorization": f"Bearer {REFERENCE_TOKEN}"},
        json.dumps(body).encode(),
    )
    items = body["saveRequests"]
    if len(items) > 200:
        assert answer.status == 400
        return
    responses = answer.json()["responses"]
    stop = body.get("stopOnError")
    failed = [r for r in responses if r["hasError"]]
    assert answer.status == 200
    if stop is True or (isinstance(stop, str) and stop.strip().lower() == "true"):  # "true" counts, as for dirty
        assert failed in ([], responses[-1:]) and (len(responses) == len(items) or failed)
    else:
        assert len(responses) == len(items)
    assert (answer.json()["errorCode"], answer.json()["errorMessage"]) == (
        (failed[0]["errorCode"], failed[0]["errorMessage"]) if failed else (None, None)
    )
    after = {i.rec_id for i in platform.incidents} | {n.rec_id for n in platform.notes}
    saved = {r["busObRecId"] for r in responses if not r["hasError"]}
    assert saved <= after and after - before == saved - before  # a record per successful create, none else


SEARCH_PLATFORM = FakePlatform(seed=11)
SEARCH_PLATFORM.seed_incidents(40)
for _n in range(5):
    SEARCH_PLATFORM.add_incident("SNR", f"GDL-ZAP-NODO-{_n:04d}", external_id=f"WM-20261126-{_n:06d}")
SEARCH_API = Api(SEARCH_PLATFORM)
SEARCH_API.login()
SEARCH_FIELDS = {
    "Category": "category",
    "Status": "status",
    "Node": "node",
    "IncidentID": "incident_id",
    "ExternalID": "external_id",
}
ORACLE: dict[str, Any] = {
    "eq": lambda value, operand: value.casefold() == operand.casefold(),
    "contains": lambda value, operand: operand in value,
    "startswith": str.startswith,
    "gt": lambda value, operand: value > operand,
    "lt": lambda value, operand: value < operand,
}


@settings(max_examples=200, deadline=None)
@given(
    filters=st.lists(
        st.tuples(
            st.sampled_from(sorted(SEARCH_FIELDS)),
            st.sampled_from(sorted(ORACLE)),
            st.sampled_from(
                [
                    "SNR",
                    "snr",
                    "Falla de Linea",
                    "New",
                    "closed",
                    "GDL",
                    "MTY-SPG",
                    "NODO",
                    "10241",
                    "WM-20261126-000003",
                    "",
                ]
            ),
        ),
        max_size=5,
    ),
    page_size=st.integers(1, 500) | st.sampled_from([0, 501, None, "x", [], 2.5, True]),
    junk=st.lists(platform_json(), max_size=1),
)
def test_search_returns_exactly_the_matching_incidents(
    filters: list[tuple[str, str, str]], page_size: Any, junk: list[Any]
) -> None:
    answer = SEARCH_API.search(
        filters,
        columns=("RecID",),
        pageSize=page_size,
        filters=[
            *({"fieldId": SEARCH_API.fid("Incident", name), "operator": op, "value": v} for name, op, v in filters),
            *junk,
        ],
    )
    if junk or not (type(page_size) is int and 1 <= page_size <= 500):
        assert answer.status in (400, 500)  # a bad filter or page size is refused, never a crash
        return
    by_field: dict[str, list[tuple[str, str]]] = {}
    for name, op, value in filters:
        by_field.setdefault(name, []).append((op, value))
    expected = [
        i.rec_id
        for i in SEARCH_PLATFORM.incidents
        if all(
            any(ORACLE[op](getattr(i, SEARCH_FIELDS[name]), value) for op, value in ors)
            for name, ors in by_field.items()
        )
    ]
    body = answer.json()
    assert body["totalRows"] == len(expected) and body["hasMoreRecords"] == (len(expected) > page_size)
    assert [row["busObRecId"] for row in body["businessObjects"]] == expected[:page_size]


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(0, 25), page_size=st.integers(1, 10))
def test_paging_returns_every_row_once(rows: int, page_size: int) -> None:
    platform = fresh_platform()
    platform.seed_incidents(rows)
    api = Api(platform)
    api.token = REFERENCE_TOKEN
    seen: list[str] = []
    for page in range(1, 30):
        body = api.search([], pageSize=page_size, pageNumber=page).json()
        seen += [row["busObRecId"] for row in body["businessObjects"]]
        if not body["hasMoreRecords"]:
            break
    assert seen == [i.rec_id for i in platform.incidents]
    assert page == max(1, -(-len(seen) // page_size))  # no empty page after the last full one
