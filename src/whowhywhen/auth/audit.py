"""Security audit events (CFG-08): one JSON-ready log record each, never carrying secrets."""

from __future__ import annotations

import logging
from typing import Any

from whowhywhen.kit.time import utc_now

audit_log = logging.getLogger("whowhywhen.audit")


def audit(
    event: str,
    *,
    outcome: str = "success",
    user_id: int | None = None,
    project_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    **details: Any,
) -> None:
    record = {
        "event": event,
        "outcome": outcome,
        "at": utc_now().isoformat(),
        "actor": user_id,
        "project": project_id,
        "ip": ip,
        "user_agent": user_agent,
        **details,
    }
    audit_log.info("audit %s %s", event, outcome, extra={"audit": record})
