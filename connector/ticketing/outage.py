"""Whose failure is it: the platform's, or the ticket's? The rule, written once.

DataMiner puts an element in *timeout* when what it talks to does not answer: that is the
platform's failure, and it is the element's state, not its tickets'. A ticket's retries count
only answers that reject that ticket (its data). So a wrong password or a stopped Cherwell
leaves every ticket where it was, with its retries, and the cycle is tried again with backoff
until the platform answers; a poison ticket still ends in Error after Max Retries + 1 tries.

    what happened                                      whose      what follows
    -------------------------------------------------  ---------  -----------------------------------
    login, refresh, metadata or the open-incidents     platform   element in timeout; the cycle ends
      search fails (after READ_ATTEMPTS tries),                   and is tried again with backoff;
      whatever the answer (connection refused, DNS,               no ticket counts a retry
      TLS, timeout, 5xx, 400 invalid_grant)
    a write wave: every batch failed with no answer,   platform   the same; the batches stay in the
      401 (after the one new login), 403, 407, 408,               In Flight journal, so the next
      429, or a gateway's 502 / 503 / 504                          cycle looks them up before sending
    a look-up (after an unanswered write) fails that   platform   the same
      way
    a batch refused by an answer about its data:       ticket     one retry for each of its tickets
      another 4xx, a 500 (a poison batch must end in              (Outcome Unknown when the write
      Error), an unreadable 2xx, a wrong count                    may have happened)
    one item of a batch fails (Cherwell's item error,  ticket     one retry for that ticket alone
      an SFyC error code)
    a write wave where some batches were answered      ticket     the unanswered batches' tickets
                                                                  count a retry, as before

"No answer" is `PlatformError.status == 0` (the transport's failure: connect, DNS, TLS, timeout,
connection lost); `status` None is an error about an answer's content, the ticket's.
"""

from __future__ import annotations

from collections.abc import Iterable

from connector.ticketing.cherwell import PlatformError

# The statuses that say nothing about the request's data: no answer, credentials, a busy or
# unreachable application behind a gateway.
PLATFORM_STATUSES = frozenset({0, 401, 403, 407, 408, 429, 502, 503, 504})


def platform_failure(error: PlatformError) -> bool:
    """An answer (or its lack) that says the platform is down or will not let us in, not that
    the request's tickets are wrong."""
    return error.status in PLATFORM_STATUSES


def wave_down(outcomes: Iterable[object]) -> PlatformError | None:
    """The first failure of a write wave in which every batch failed as `platform_failure`
    (the platform down for everyone), else None (the failures are the tickets')."""
    first: PlatformError | None = None
    for outcome in outcomes:
        if not isinstance(outcome, PlatformError) or not platform_failure(outcome):
            return None
        first = first or outcome
    return first
