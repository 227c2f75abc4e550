"""The fake's Cherwell token endpoint: password and refresh grants, rotated refresh tokens, bearer checks."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from connector.ticketing.fake.answers import FakeAnswer, Request, form_fields, http_date, json_answer, raw_answer
from connector.ticketing.fake.data import REFRESH_TOKEN_TTL
from connector.ticketing.fake.faults import Dice, Faults


class TokenService:
    """Issues and checks Cherwell tokens for one set of credentials."""

    def __init__(
        self, *, client_id: str, username: str, password: str, seed: int, clock: Callable[[], float], dice: Dice
    ) -> None:
        self._client_id, self._username, self._password = client_id, username, password
        self._rng = random.Random(f"tokens:{seed}")
        self._clock = clock
        self._dice = dice
        self._access: dict[str, float] = {}  # token -> expiry
        self._refresh: dict[str, float] = {}

    def token(self, request: Request, faults: Faults) -> FakeAnswer:
        form = form_fields(request.body)  # auth_mode, in the form or the query, is ignored
        grant = form.get("grant_type")
        if grant not in ("password", "refresh_token"):
            return self.error("unsupported_grant_type", "grant_type must be password or refresh_token", faults)
        if form.get("client_id") != self._client_id:
            return self.error("invalid_client_id", "Client is not registered in the system.", faults)
        now = self._clock()
        if grant == "password":
            if form.get("username") != self._username or form.get("password") != self._password:
                return self.error(
                    "invalid_grant", "Could not login to system with the provided user ID and password.", faults
                )
        else:
            expiry = self._refresh.pop(form.get("refresh_token", ""), None)  # single use: rotated
            if expiry is None or expiry <= now:
                return self.error("invalid_grant", "The refresh token is invalid or has expired.", faults)
        self._access = {t: exp for t, exp in self._access.items() if exp > now}
        access, refresh = f"{self._rng.getrandbits(256):064x}", f"{self._rng.getrandbits(128):032x}"
        self._access[access] = now + faults.token_ttl
        self._refresh[refresh] = now + REFRESH_TOKEN_TTL
        return json_answer(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": int(faults.token_ttl),
                "refresh_token": refresh,
                "as:client_id": self._client_id,
                "username": self._username,
                ".issued": http_date(now),
                ".expires": http_date(now + faults.token_ttl),
            },
        )

    def error(self, error: str, description: str, faults: Faults) -> FakeAnswer:
        text = json.dumps({"error": error, "error_description": description})
        if self._dice.roll(faults.quoted_token_error_rate, "quoted_token_error"):
            text = json.dumps(text)  # the real server's habit: the JSON body as a JSON string
        return raw_answer(400, text.encode())

    def accepts(self, authorization: str) -> bool:
        """Whether an Authorization header carries a live bearer token."""
        scheme, _, token = authorization.strip().partition(" ")
        expiry = self._access.get(token.strip())
        return scheme.lower() == "bearer" and expiry is not None and expiry > self._clock()

    def revoke(self) -> int:
        """Every current access token stops working (401); returns how many were live."""
        revoked = len(self._access)
        self._access.clear()
        return revoked


__all__ = ["TokenService"]
