"""`connector run`'s log (issue 12): one line an event at every level, ISO 8601 UTC times with Z,
the event's fields as key=value, or one JSON object a line with `--log-format json`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def run_logging(body: str, level: str = "INFO", log_format: str = "text") -> list[str]:
    script = (
        "from connector.service.serve import configure_logging\n"
        f"configure_logging({level!r}, {log_format!r})\n" + textwrap.dedent(body)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return done.stderr.splitlines()


EVENT = """
import logging
logging.getLogger("connector.handler").warning(
    "[%s] %s", "BE 01", "Cherwell login refused: no",
    extra={"element": "BE 01", "event": "login_refused", "fields": {"reason": "Cherwell says no", "status": 400}},
)
logging.getLogger("connector.runtime").info("[BE 01] running (Toy 1.0, 3 rows)")
"""


def test_text_lines_have_a_utc_time_with_z_and_the_fields_as_key_value() -> None:
    lines = run_logging(EVENT)
    assert len(lines) == 2, lines
    stamp, rest = lines[0].split(" ", 1)
    assert ISO_Z.match(stamp), stamp
    assert rest == (
        'WARNING connector.handler: [BE 01] Cherwell login refused: no reason="Cherwell says no" status=400'
    )
    assert ISO_Z.match(lines[1].split(" ", 1)[0]) and lines[1].endswith("[BE 01] running (Toy 1.0, 3 rows)")


def test_json_lines_parse_with_ts_level_element_event_and_fields() -> None:
    lines = run_logging(EVENT + 'logging.getLogger("x").error("two\\nlines")\n', log_format="json")
    assert len(lines) == 3, lines
    first, second, third = (json.loads(line) for line in lines)
    assert ISO_Z.match(first.pop("ts"))
    assert first == {
        "level": "WARNING",
        "logger": "connector.handler",
        "element": "BE 01",
        "event": "login_refused",
        "message": "Cherwell login refused: no",
        "reason": "Cherwell says no",
        "status": 400,
    }
    # A line without `extra`: the element read from its "[name] " prefix.
    assert (second["element"], second["event"], second["message"]) == ("BE 01", None, "running (Toy 1.0, 3 rows)")
    assert third["message"] == "two\nlines"


def test_debug_adds_no_library_lines() -> None:
    lines = run_logging(
        """
        import logging
        names = ("httpcore.http11", "httpcore.connection", "httpx", "hpack.hpack", "tzlocal")
        for name in names:
            logging.getLogger(name).debug("noise from %s", name)
            logging.getLogger(name).info("noise from %s", name)
        logging.getLogger("connector.handler").debug("[BE] ours")
        logging.getLogger("httpcore").warning("a library's warning still shows")
        """,
        level="DEBUG",
    )
    assert len(lines) == 2, lines
    assert lines[0].endswith("connector.handler: [BE] ours")
    assert lines[1].endswith("a library's warning still shows")
