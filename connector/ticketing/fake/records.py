"""The fake's Cherwell records: business objects by id and name, incidents by public id, the field rules."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from connector.ticketing.fake.answers import cherwell_date, field_error
from connector.ticketing.fake.data import (
    BUS_OBS,
    CATEGORIES,
    CLOSED_STATES,
    FIRST_INCIDENT_ID,
    OPEN_STATES,
    BusOb,
    Record,
)


class Records:
    """Cherwell's business objects and their records, with ids drawn from the platform's seed."""

    def __init__(self, *, seed: int, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ids = random.Random(f"ids:{seed}")
        self.bus_obs: dict[str, BusOb] = {}  # by busObId
        self.by_name: dict[str, BusOb] = {}  # by lower-case name
        for spec in BUS_OBS:
            field_ids = {f.name: self.hex(42) for f in spec.fields}
            bus_ob = BusOb(spec, self.hex(32), field_ids, {field_ids[f.name]: f for f in spec.fields})
            self.bus_obs[bus_ob.bus_ob_id] = self.by_name[spec.name.lower()] = bus_ob
        self.incident, self.note = self.by_name["incident"], self.by_name["journalnote"]
        self.incidents_by_public: dict[str, Record] = {}
        self.next_incident_id = FIRST_INCIDENT_ID

    def hex(self, digits: int) -> str:
        return f"{self._ids.getrandbits(digits * 4):0{digits}x}"

    def validate(self, bus_ob: BusOb, merged: Mapping[str, str], changes: Mapping[str, str]) -> list[dict[str, str]]:
        # Required fields on the whole record; values only where they change, so that an OTNumber
        # update does not trip over a legacy value seeded by a test.
        ids = bus_ob.field_ids
        errors = [
            field_error(ids[f.name], f"{f.display_name} is required", "REQUIRED")
            for f in bus_ob.spec.fields
            if f.required and not merged.get(f.name, "").strip()
        ]
        checks: list[tuple[str, bool, str]] = []
        if bus_ob is self.incident:
            checks = [
                ("Category", changes.get("Category") in CATEGORIES, "Category must be Falla de Linea or SNR"),
                (
                    "Status",
                    changes.get("Status") in OPEN_STATES + CLOSED_STATES,
                    f"Status must be one of {', '.join(OPEN_STATES + CLOSED_STATES)}",
                ),
            ]
        elif bus_ob is self.note:
            checks = [
                (
                    "ParentRecID",
                    changes.get("ParentRecID", "").lower() in self.incident.records,
                    "ParentRecID must be the RecID of an existing Incident",
                ),
                (
                    "ParentTypeID",
                    changes.get("ParentTypeID", "").lower() == self.incident.bus_ob_id,
                    "ParentTypeID must be the Incident busObId",
                ),
            ]
        errors += [
            field_error(ids[name], message, "INVALIDVALUE")
            for name, valid, message in checks
            if changes.get(name, "").strip() and not valid
        ]
        return errors

    def find_public(self, bus_ob: BusOb, public_id: str) -> Record | None:
        if bus_ob is self.incident:
            return self.incidents_by_public.get(public_id)
        return bus_ob.records.get(public_id.lower())

    def create(self, bus_ob: BusOb, values: Mapping[str, str]) -> Record:
        record = Record({f.name: "" for f in bus_ob.spec.fields})
        record.values.update(values)
        record.values["RecID"] = self.hex(42)
        record.values["CreatedDateTime"] = cherwell_date(self._clock())
        if bus_ob is self.incident:
            record.values["Status"] = record.values["Status"] or "New"
            record.values["IncidentID"] = str(self.next_incident_id)
            self.next_incident_id += 1
            self.incidents_by_public[record.public_id] = record
        bus_ob.records[record.rec_id] = record
        return record


__all__ = ["Records"]
