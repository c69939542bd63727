from __future__ import annotations

import json
import logging

from whowhywhen.logging import JsonFormatter


class TestJsonFormatter:
    def test_user_data_with_newlines_stays_on_one_line(self) -> None:
        record = logging.makeLogRecord(
            {"name": "t", "levelname": "INFO", "msg": "path %s", "args": ("/a\r\nFAKE log line",)}
        )
        line = JsonFormatter().format(record)
        assert "\n" not in line
        assert json.loads(line)["message"] == "path /a\r\nFAKE log line"

    def test_audit_fields_are_kept(self) -> None:
        record = logging.makeLogRecord(
            {"name": "whowhywhen.audit", "msg": "audit", "audit": {"event": "login", "ok": True}}
        )
        assert json.loads(JsonFormatter().format(record))["audit"] == {"event": "login", "ok": True}
