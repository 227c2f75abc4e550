"""Every form of every secret out of what the platform says, before it is stored, logged or shown.

Platforms echo what they were sent: a login error that quotes the form (the password URL-encoded,
or decoded), a save error that quotes the request with its Authorization header, a JSON body
inside a JSON string. `Scrubber` replaces each secret (the password, the API key, the access and
refresh tokens) in every form it may come back in:

    raw; URL-encoded (quote with and without "/" safe, quote_plus; hex digits in either case);
    JSON-escaped (ASCII and not), twice JSON-escaped (a JSON document inside a JSON string);
    HTML-escaped; Python's repr; base64 of the secret and of "username:password" (Basic auth).

A message cut short ("...") may end in the first characters of a secret: that tail goes too.

It works on messages for people only (Last Error, the cycle result, the login state, log
lines), never on the platform's data: replacing a short password inside a search answer could
change an id. A cycle builds one (`Scrubber.of`) and the flow applies it where platform text
enters its state (`connector.ticketing.rows.CycleRows.fail`, the login state, the cycle result);
the handlers apply it again to what they show and log.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_TAIL = 2  # a cut-short message ending in this many first characters of a form loses them
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def forms(secret: str) -> set[str]:
    """The forms `secret` may come back in (see the module's docstring)."""
    if not secret:
        return set()
    escaped = json.dumps(secret)[1:-1]
    found = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        escaped,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(escaped)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        repr(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
    }
    return {form for form in found if form}


def _pattern(form: str) -> str:
    """`form` as a regular expression; a %XX escape matches in either case."""
    parts: list[str] = []
    last = 0
    for match in _PERCENT.finditer(form):
        parts.append(re.escape(form[last : match.start()]))
        parts.append("%" + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in match.group(1)))
        last = match.end()
    parts.append(re.escape(form[last:]))
    return "".join(parts)


class Scrubber:
    """Replaces every form of the secrets it was given by `MASK`. `add` takes more (a new token)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        self._regex: re.Pattern[str] | None = None
        self.add(*secrets)

    @classmethod
    def of(cls, *, username: str = "", password: str = "", api_key: str = "", tokens: Iterable[str] = ()) -> Scrubber:
        """The secrets of a cycle; with the username, the Basic form of username:password too."""
        scrubber = cls([password, api_key, *tokens])
        if username and password:
            scrubber._add_forms({base64.b64encode(f"{username}:{password}".encode()).decode()})
        return scrubber

    def add(self, *secrets: str) -> None:
        new = [s for s in secrets if s and s not in self._secrets]
        for secret in new:
            self._secrets.add(secret)
            self._add_forms(forms(secret))

    def _add_forms(self, more: set[str]) -> None:
        if more - self._forms:
            self._forms |= more
            self._regex = None

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        if self._regex is None:
            ordered = sorted(self._forms, key=len, reverse=True)  # the longest form first
            self._regex = re.compile("|".join(_pattern(form) for form in ordered))
        text = self._regex.sub(MASK, text)
        return self._cut_tail(text)

    def _cut_tail(self, text: str) -> str:
        """A message shortened to "...": the start of a secret just before the dots goes too."""
        if not text.endswith("..."):
            return text
        body = text[:-3]
        longest = 0
        for form in self._forms:
            for size in range(min(len(form) - 1, len(body)), _TAIL - 1, -1):
                if size > longest and body.endswith(form[:size]):
                    longest = size
                    break
        return body[:-longest] + MASK + "..." if longest else text
