"""The careless operator (`--fiddle`): during a crash run, sets what a user may set to random values,
presses Retry Errors, switches processing off and on, and tries values that must be refused.

Every round (after pressing Retry Errors) it does one of the first two, and two of the third:

- a valid set of a setting a user may change (Max Retries, Max Tickets Per Request, Retry Delay,
  Max Concurrent Requests, Processing Interval), to a value in the protocol's range;
- Ticketing Processing off for a moment, and on again (retried across kills until it is on);
- a set that must be refused with a 4xx: a read-only parameter, `null`, a value out of range or
  with decimals where none are allowed, text in a number, a button value the button does not have.

Until the set rules (issue 11, another branch) are merged, some of those may still be accepted
here: the fiddler counts each outcome (refused 4xx, accepted, 5xx) and, after an accepted bad
value, puts a valid one back at once, so that the run's checks (0 lost, 0 duplicated) still hold.
A 5xx is always a problem. Read-only parameters whose change corrupts the element when accepted
(In Flight, Platform Response: the set rules' own regressions) are not among the targets.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx

from tools.chaos.actors import Presser
from tools.chaos.element import ElementSettings
from tools.chaos.processes import RuntimeProcess, wait_for

# Settings a user may change, and the values the fiddler picks from (the run must still drain:
# short delays and intervals).
SETTINGS: dict[str, tuple[Any, ...]] = {
    "Max Retries": (0, 1, 3, 10),
    "Max Tickets Per Request": (1, 3, 10, 50, 200),
    "Retry Delay": (0, 0.05, 0.5, 2),
    "Max Concurrent Requests": (1, 2, 4, 8, 16),
    "Processing Interval": (1, 2, 5),
}

# (parameter, value) pairs that must be refused with a 4xx and change nothing.
REFUSED: tuple[tuple[str, Any], ...] = (
    ("Tickets Completed", 123456),
    ("Tickets Error", 0),
    ("Last Cycle Result", "forged"),
    ("Platform Login State", "Logged in"),
    ("Requests Sent", 0),
    ("Max Retries", None),
    ("Max Retries", 11),
    ("Max Retries", -1),
    ("Max Retries", 2.5),
    ("Max Tickets Per Request", None),
    ("Max Tickets Per Request", 0),
    ("Max Tickets Per Request", 201),
    ("Retry Delay", None),
    ("Retry Delay", -1),
    ("Retry Delay", 3601),
    ("Max Concurrent Requests", 17),
    ("Max Concurrent Requests", "many"),
    ("Processing Interval", 0),
    ("Processing Interval", None),
    ("Retry Errors", "Pizza"),
    ("Ticketing Processing", "Maybe"),
)


class Fiddler(Presser):
    """A Presser (Retry Errors every round) that also changes settings and tries refused sets."""

    def __init__(self, runtime: RuntimeProcess, every: float, rng: random.Random, settings: ElementSettings) -> None:
        super().__init__(runtime, every, rng, fiddle=True)
        self.settings = settings
        self.refused = 0  # bad sets answered 4xx
        self.accepted_bad: Counter[str] = Counter()  # bad sets that were accepted (2xx), by "param=value"
        self.server_errors: list[str] = []  # 5xx to a set: always a problem

    def _change_a_setting(self) -> None:
        try:
            if self.rng.random() < 0.75:
                name = self.rng.choice(sorted(SETTINGS))
                self._set(name, self.rng.choice(SETTINGS[name]))
            else:
                self._toggle_processing()
            self.changes += 1
            for _ in range(2):  # and, every round, sets that must be refused
                self._try_refused(*self.rng.choice(REFUSED))
        except httpx.HTTPError:
            pass  # killed meanwhile: the next round does something else

    def _set(self, name: str, value: Any) -> httpx.Response:
        answer = self.runtime.set_param(name, value)
        if answer.status_code >= 500:
            self.server_errors.append(f"{name} = {value!r}: HTTP {answer.status_code} {answer.text[:200]}")
        return answer

    def _toggle_processing(self) -> None:
        self._set("Ticketing Processing", "Disabled")
        self.stop.wait(self.rng.uniform(0.05, 1.0))
        # Until it is on again: a kill in between must not leave processing off for good.
        wait_for(
            lambda: self.runtime.set_param("Ticketing Processing", "Enabled").status_code == 200,
            timeout=60,
            what="Ticketing Processing back on",
            every=0.1,
        )

    def _try_refused(self, name: str, value: Any) -> None:
        answer = self._set(name, value)
        if 400 <= answer.status_code < 500:
            self.refused += 1
        elif answer.status_code < 300:
            self.accepted_bad[f"{name}={value!r}"] += 1
            self.restore(name)

    def restore(self, name: str | None = None) -> None:
        """The run's own value back on `name` (None: every setting, and processing on)."""
        own = {
            "Max Retries": self.settings.max_retries,
            "Max Tickets Per Request": self.settings.request_batch,
            "Retry Delay": self.settings.retry_delay,
            "Max Concurrent Requests": self.settings.concurrency,
            "Processing Interval": self.settings.processing_interval,
            "Ticketing Processing": "Enabled",
        }
        for setting in own if name is None else [name]:
            if setting in own:
                self._put_back(setting, own[setting])

    def _put_back(self, setting: str, value: Any) -> None:
        wait_for(
            lambda: self.runtime.set_param(setting, value).status_code == 200,
            timeout=60,
            what=f"{setting} back to the run's value",
            every=0.1,
        )
