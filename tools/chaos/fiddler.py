"""The careless operator (`--fiddle`): during a crash run, sets what a user may set to random values,
presses Retry Errors, switches processing off and on, and tries values that must be refused.

Every round (after pressing Retry Errors) it does one of the first two, and two of the third:

- a valid set of a setting a user may change (Max Retries, Max Tickets Per Request, Retry Delay,
  Max Concurrent Requests, Processing Interval), to a value in the protocol's range;
- Ticketing Processing off for a moment, and on again (retried across kills until it is on);
- a set that must be refused with a 4xx: a read-only parameter, `null`, a value out of range or
  with decimals where none are allowed, text in a number, a button value the button does not have.

Every refused set is checked against DataMiner's rule (issue 11): a parameter only the element
sets (a read parameter without a write twin, a dummy: In Flight, Platform Response, Tickets
Completed, ...) is refused with 403 whatever the value; a bad value of a setting with 422 (or 400).
Any other answer is counted by kind, and the run fails unless 0 bad sets were accepted and none
answered otherwise (`Fiddler.problems`). A 503 (the element starting or stopping around a kill)
is neither: it is counted apart. After an accepted bad value the fiddler puts a valid one back at
once, so that the rest of the run still says something.
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

# Parameters only the element sets, with values a careless (or hostile) operator would try:
# each set must be answered 403 and change nothing. In Flight is the crash journal (`[]` before a
# kill once made 320 duplicate OTs); a set on Platform Response cross-wired answers to requests.
READ_ONLY: tuple[tuple[str, Any], ...] = (
    ("In Flight", "[]"),
    ("In Flight", '[{"ticket": "WM-000001"}]'),
    ("Platform Response", "HTTP/1.1 200 OK"),
    ("Platform Response", None),
    ("Tickets Completed", 123456),
    ("Tickets Error", 0),
    ("Duplicates Detected", 0),
    ("Last Cycle Result", "forged"),
    ("Platform Login State", "Logged in"),
    ("Communication State", "HTTP/1.1 200 OK"),
    ("Requests Sent", 0),
    ("Request Path", "/CherwellAPI/api/V1/deletebusinessobject"),
)

# Bad values of settings a user may set: each must be answered 422 (or 400) and change nothing.
BAD_VALUES: tuple[tuple[str, Any], ...] = (
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

# Every refused set the fiddler tries, with the answers that are right for it.
FORBIDDEN = (403,)
UNPROCESSABLE = (400, 422)
REFUSED: tuple[tuple[str, Any, tuple[int, ...]], ...] = (
    *((name, value, FORBIDDEN) for name, value in READ_ONLY),
    *((name, value, UNPROCESSABLE) for name, value in BAD_VALUES),
)


class Fiddler(Presser):
    """A Presser (Retry Errors every round) that also changes settings and tries refused sets."""

    def __init__(self, runtime: RuntimeProcess, every: float, rng: random.Random, settings: ElementSettings) -> None:
        super().__init__(runtime, every, rng, fiddle=True)
        self.settings = settings
        self.refused: Counter[int] = Counter()  # bad sets refused as they must be, by status (403, 422, 400)
        self.accepted_bad: Counter[str] = Counter()  # bad sets that were accepted (2xx), by "param=value"
        self.wrong_refusals: Counter[str] = Counter()  # refused, but not as the rule says: "param=value -> status"
        self.unavailable = 0  # 503: the element starting or stopping around a kill
        self.server_errors: list[str] = []  # any other 5xx to a set: always a problem

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
        if answer.status_code == 503:
            self.unavailable += 1
        elif answer.status_code >= 500:
            self.server_errors.append(f"{name} = {value!r}: HTTP {answer.status_code} {answer.text[:200]}")
        return answer

    def outcomes(self) -> dict[str, int]:
        """The figures of the report: sets by outcome."""
        refused = {f"bad sets refused {status}": self.refused[status] for status in (*FORBIDDEN, *UNPROCESSABLE)}
        return {
            "settings changed": self.changes,
            **refused,
            "bad sets accepted": sum(self.accepted_bad.values()),
            "bad sets refused wrongly": sum(self.wrong_refusals.values()),
            "sets answered 503 (starting)": self.unavailable,
        }

    @property
    def problems(self) -> list[str]:
        """What the rules forbid: a bad set accepted, refused with the wrong status, or a 5xx."""
        accepted = [f"a bad set was accepted {n} times: {what}" for what, n in sorted(self.accepted_bad.items())]
        wrong = [f"a bad set was refused wrongly {n} times: {what}" for what, n in sorted(self.wrong_refusals.items())]
        return accepted + wrong + [f"a set answered 5xx: {error}" for error in self.server_errors]

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

    def _try_refused(self, name: str, value: Any, right: tuple[int, ...]) -> None:
        status = self._set(name, value).status_code
        if status in right:
            self.refused[status] += 1
        elif status < 300:
            self.accepted_bad[f"{name}={value!r}"] += 1
            self.restore(name)
        elif status < 500:
            self.wrong_refusals[f"{name}={value!r} -> {status}"] += 1

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
