"""The fake's Cherwell REST API: business object metadata, search and batch saves (the token is `tokens`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from connector.ticketing.fake.answers import (
    FakeAnswer,
    Request,
    as_text,
    bad_request,
    cherwell_error,
    envelope,
    field_error,
    json_answer,
    parse_json,
    save_item,
    truthy,
    unknown_bus_ob,
    whole_number,
)
from connector.ticketing.fake.data import (
    CLOSED_STATES,
    COMPARE,
    DEFAULT_PAGE_SIZE,
    INCIDENT,
    MAX_PAGE_SIZE,
    MAX_SAVE_REQUESTS,
    OPEN_STATES,
    BusOb,
    FieldFilter,
    FieldSpec,
    Record,
)
from connector.ticketing.fake.faults import Dice, Faults
from connector.ticketing.fake.records import Records


class CherwellApi:
    """Answers Cherwell's api/V1 calls from the records; counts each save item by its operation."""

    def __init__(self, records: Records, *, requests: Counter[str], dice: Dice) -> None:
        self._records = records
        self._requests = requests
        self._dice = dice

    def summary(self, request: Request, faults: Faults) -> FakeAnswer:
        bus_ob = self._records.by_name.get(request.params["name"].strip().lower())
        return json_answer(200, [self._summary_of(bus_ob)] if bus_ob else [])  # unknown name: 200 []

    def _summary_of(self, bus_ob: BusOb) -> dict[str, Any]:
        spec, ids = bus_ob.spec, bus_ob.field_ids
        return {
            "busObId": bus_ob.bus_ob_id,
            "name": spec.name,
            "displayName": spec.display_name,
            "major": spec is INCIDENT,
            "supporting": spec is not INCIDENT,
            "lookup": False,
            "group": bool(spec.members),
            "groupSummaries": [self._summary_of(self._records.by_name[m.lower()]) for m in spec.members],
            "firstRecIdField": ids["RecID"],
            "recIdFields": ids["RecID"],
            "stateFieldId": ids.get("Status", ""),
            "states": ",".join(OPEN_STATES + CLOSED_STATES) if "Status" in ids else "",
        }

    def schema(self, request: Request, faults: Faults) -> FakeAnswer:
        bus_ob = self._records.bus_obs.get(request.params["bus_ob_id"].strip().lower())
        if bus_ob is None:
            return unknown_bus_ob(request.params["bus_ob_id"])
        summary = self._summary_of(bus_ob)
        definitions = [
            {
                "fieldId": bus_ob.field_ids[f.name],
                "name": f.name,
                "displayName": f.display_name,
                "type": f.type,
                "required": f.required,
                "readOnly": f.read_only,
                "description": "",
            }
            for f in bus_ob.spec.fields
        ]
        keep = ("busObId", "name", "firstRecIdField", "recIdFields", "stateFieldId", "states")
        return json_answer(
            200,
            {
                **{k: summary[k] for k in keep},
                "fieldDefinitions": definitions,
                "gridDefinitions": [],
                "relationships": [],
                **envelope(),
            },
        )

    def search(self, request: Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict):
            return bad_request("The request body must be a JSON object")
        bus_ob = self._records.bus_obs.get(as_text(data.get("busObId")).lower())
        if bus_ob is None:
            return unknown_bus_ob(as_text(data.get("busObId")))
        page_number = whole_number(data.get("pageNumber", 1))
        page_size = whole_number(data.get("pageSize", DEFAULT_PAGE_SIZE))
        if page_number is None or page_number < 0:
            return bad_request("pageNumber must be a whole number, the first page is 1")
        if page_size is None or not 1 <= page_size <= MAX_PAGE_SIZE:
            return bad_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        filters = data.get("filters") or []
        if not isinstance(filters, list):
            return bad_request("filters must be a list of {fieldId, operator, value}")
        groups: dict[str, FieldFilter] = {}
        for item in filters:
            if not isinstance(item, dict):
                return bad_request("Each filter must be an object {fieldId, operator, value}")
            spec = bus_ob.field(item.get("fieldId"))
            op, value = as_text(item.get("operator")).strip().lower(), as_text(item.get("value"))
            if spec is None:
                return cherwell_error(
                    500, "GENERALFAILURE", f"Field {as_text(item.get('fieldId'))} not found on {bus_ob.spec.name}"
                )
            if op != "eq" and op not in COMPARE:
                return bad_request(f"Operator '{op}' is not supported: use eq, contains, startswith, gt or lt")
            group = groups.setdefault(spec.name, FieldFilter())
            if op == "eq":
                group.equal.add(value.casefold())
            else:
                group.others.append((COMPARE[op], value))
        wanted: list[FieldSpec | None]
        if truthy(data.get("includeAllFields")):
            wanted = list(bus_ob.spec.fields)
        else:
            requested = data.get("fields") or []
            wanted = [bus_ob.field(ref) for ref in (requested if isinstance(requested, list) else [requested])]
            if None in wanted:
                return cherwell_error(500, "GENERALFAILURE", f"A requested field is not a field of {bus_ob.spec.name}")
        rows = [r for r in bus_ob.records.values() if all(g.matches(r.values.get(n, "")) for n, g in groups.items())]
        start = (max(page_number, 1) - 1) * page_size
        return json_answer(
            200,
            {
                "businessObjects": [
                    self._search_row(bus_ob, record, wanted) for record in rows[start : start + page_size]
                ],
                "totalRows": len(rows),
                "hasMoreRecords": start + page_size < len(rows),
                "hasPrompts": False,
                "links": [],
                "prompts": [],
                "searchResultsFields": [],
                "simpleResults": None,
                **envelope(),
            },
        )

    @staticmethod
    def _search_row(bus_ob: BusOb, record: Record, wanted: Iterable[FieldSpec | None]) -> dict[str, Any]:
        return {
            "busObId": bus_ob.bus_ob_id,
            "busObPublicId": record.public_id,
            "busObRecId": record.rec_id,
            "fields": [
                {
                    "fieldId": bus_ob.field_ids[f.name],
                    "name": f.name,
                    "displayName": f.display_name,
                    "value": record.values.get(f.name, ""),
                }
                for f in wanted
                if f is not None
            ],
            "links": [],
            **envelope(),
        }

    def save_batch(self, request: Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict) or not isinstance(data.get("saveRequests"), list):
            return bad_request("The request body must be a JSON object with a saveRequests list")
        if len(data["saveRequests"]) > MAX_SAVE_REQUESTS:
            return bad_request(f"At most {MAX_SAVE_REQUESTS} save requests per batch, got {len(data['saveRequests'])}")
        responses = []
        for item in data["saveRequests"]:
            responses.append(self._save_one(item, faults))
            if responses[-1]["hasError"] and truthy(data.get("stopOnError")):
                break
        first_error = next((r for r in responses if r["hasError"]), None)
        top = envelope(200, first_error["errorCode"], first_error["errorMessage"]) if first_error else envelope()
        return json_answer(200, {"responses": responses, **top})

    def _save_one(self, item: object, faults: Faults) -> dict[str, Any]:
        if not isinstance(item, dict):
            return save_item(400, "BADREQUEST", "Each save request must be a JSON object")
        bus_ob = self._records.bus_obs.get(as_text(item.get("busObId")).lower())
        if bus_ob is None:
            return save_item(500, "GENERALFAILURE", f"Business object with {as_text(item.get('busObId'))} not found")
        rec_id, public_id = as_text(item.get("busObRecId")).strip().lower(), as_text(item.get("busObPublicId")).strip()
        changes, field_errors = self._dirty_fields(bus_ob, item.get("fields"))
        operation = self._save_operation(bus_ob, bool(rec_id or public_id), changes)
        self._requests[operation] += 1
        message = faults.fail_operation.get(operation)
        if message is not None:
            self._dice.count("fail_operation")
            return save_item(500, "GENERALFAILURE", message)
        if self._dice.roll(faults.item_error_rate, "item_error"):
            return save_item(500, "GENERALFAILURE", "Injected failure: this item was not saved, try again")
        if not bus_ob.spec.savable:
            return save_item(
                400, "BusObNotValid", f"{bus_ob.spec.display_name} cannot be saved: save Incident or Journal - Note"
            )
        record = None
        if rec_id or public_id:
            record = bus_ob.records.get(rec_id) if rec_id else self._records.find_public(bus_ob, public_id)
            if record is None:
                return save_item(404, "RECORDNOTFOUND", "Record not found")
        merged = {**(record.values if record else {}), **changes}
        field_errors += self._records.validate(bus_ob, merged, changes)
        if field_errors:
            return save_item(400, "FIELDVALIDATIONERROR", field_errors[0]["error"], field_errors=field_errors)
        if record:
            record.values.update(changes)
        else:
            record = self._records.create(bus_ob, changes)
        return save_item(record=record)

    def _dirty_fields(self, bus_ob: BusOb, items: object) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The values to write (dirty fields only, by name) and the errors of the fields list."""
        if items is None:
            return {}, []
        if not isinstance(items, list):
            return {}, [field_error("", "fields must be a list", "BADREQUEST")]
        changes: dict[str, str] = {}
        errors: list[dict[str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                errors.append(field_error("", "Each field must be an object {dirty, fieldId, value}", "BADREQUEST"))
            elif truthy(item.get("dirty")):
                spec = bus_ob.field(item.get("fieldId"))
                if spec is None:
                    errors.append(field_error(item.get("fieldId"), "Field not found", "FIELDNOTFOUND"))
                elif spec.read_only:
                    errors.append(field_error(item.get("fieldId"), f"{spec.display_name} is read-only", "READONLY"))
                else:
                    changes[spec.name] = as_text(item.get("value"))
        return changes, errors

    def _save_operation(self, bus_ob: BusOb, updating: bool, changes: Mapping[str, str]) -> str:
        if bus_ob is self._records.incident:
            if not updating:
                return "create_ticket"
            return "update_ticket_ot" if set(changes) == {"OTNumber"} else "update_ticket"
        if bus_ob is self._records.note:
            return "update_note" if updating else "add_note"
        return "save_other"


__all__ = ["CherwellApi"]
