"""One log record, one line: what comes from outside cannot write a line of its own.

Regression (issue 11): a newline in an InterApp guid wrote a forged `CRITICAL` line into the
connector's log. `configure_logging` (what `connector run` uses) escapes control characters in
every record of every logger.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s")


def run_logging(body: str) -> list[str]:
    """The lines on stderr of a fresh process that configures logging as `connector run` does."""
    script = "from connector.service.serve import configure_logging\nconfigure_logging('INFO')\n" + textwrap.dedent(
        body
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return done.stderr.splitlines()


def test_a_newline_in_a_logged_value_does_not_write_a_line() -> None:
    lines = run_logging(
        """
        import logging
        guid = "3f2a\\n2026-01-01 00:00:00,000 CRITICAL connector: forged"
        logging.getLogger("connector.ticketing.handlers").warning("InterApp message %s refused", guid)
        """
    )
    assert len(lines) == 1, lines
    assert RECORD.match(lines[0]) and " WARNING " in lines[0]
    assert lines[0].endswith("InterApp message 3f2a\\n2026-01-01 00:00:00,000 CRITICAL connector: forged refused")


def test_every_control_character_and_unicode_line_break_is_escaped() -> None:
    lines = run_logging(
        """
        import logging
        logging.getLogger("uvicorn.error").error("a\\rb\\x1b[31mc\\x00d\\x85e\\u2028f\\u2029g\\th\\x7fi")
        """
    )
    assert len(lines) == 1, lines
    assert lines[0].endswith(r"a\rb\x1b[31mc\x00d\x85e\u2028f\u2029g\th\x7fi")


def test_a_traceback_keeps_its_lines_but_none_passes_for_a_record() -> None:
    lines = run_logging(
        """
        import logging
        try:
            raise ValueError("ticket 12\\n2026-01-01 00:00:00,000 CRITICAL connector: forged")
        except ValueError:
            logging.getLogger("connector").exception("cycle failed")
        """
    )
    assert RECORD.match(lines[0]) and lines[0].endswith("cycle failed")
    assert len(lines) > 3 and all(line.startswith("  ") for line in lines[1:]), lines
    assert [line for line in lines if RECORD.match(line)] == lines[:1]
