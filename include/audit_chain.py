"""The audit trail's hash chain: how an event, a decision and a round fact are digested.

Each event's ``hash`` is SHA-256 over a canonical JSON of its content (ticket, per-ticket
sequence number, action, actor, time, states, details) followed by the previous event's hash,
so changing, inserting or removing an event breaks every later link. Decisions, manifests and
the other round facts are covered by digests written into the event that recorded them. These
functions define the chain: changing them invalidates every chain already written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def as_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, default=str))


def utc_text(at: datetime) -> str:
    # SQLite hands back naive datetimes; everything stored is UTC.
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def event_hash(
    *,
    stats_id: str,
    seq: int,
    action: str,
    actor: str,
    at: datetime,
    from_state: str | None,
    to_state: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    content = {
        "stats_id": stats_id,
        "seq": seq,
        "action": action,
        "actor": actor,
        "at": utc_text(at),
        "from_state": from_state,
        "to_state": to_state,
        "details": as_json(dict(details)),
    }
    return hashlib.sha256((canonical(content) + prev_hash).encode()).hexdigest()


def decision_digest(
    *,
    round: int,
    step: str,
    role: str,
    actor: str,
    outcome: str,
    guidance: str,
    exemption: str,
    at: datetime,
    files: Iterable[Iterable[str]],
) -> str:
    return digest(
        {
            "round": round,
            "step": step,
            "role": role,
            "actor": actor,
            "outcome": outcome,
            "guidance": guidance,
            "exemption": exemption,
            "at": utc_text(at),
            "files": [list(f) for f in files],
        }
    )
