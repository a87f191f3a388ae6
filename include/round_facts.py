"""A round's named facts, as the ticket store records them, and how the old ``details`` bag
spelled them (``run_r{n}``, ``run_started``/``run_started_r{n}``, ``snapshot_r{n}``,
``checks_r{n}``, ``placed_r{n}``).

Each fact is a plain dict of its canonical content: what the round row holds, what the audit
event's digest covers. The bag reader is kept for what was written before the rounds existed:
the data migration (revision 0002) and chain verification (old events carry the bag value);
``bag_key`` also lets the store refuse those keys in a ticket's free-form details.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from include.storage.base import Manifest
from include.storage.paths import StorageError

FACTS = ("run", "trigger", "snapshot", "checks", "placement")
_BAG_KEY = re.compile(r"^(run|run_started|snapshot|checks|placed)_r(\d+)$")
_FACT_OF_BAG = {
    "run": "run",
    "run_started": "trigger",
    "snapshot": "snapshot",
    "checks": "checks",
    "placed": "placement",
}


def manifest_entries(files: Iterable[Any]) -> list[list[Any]]:
    """[[path, sha256, size], ...] sorted by path, from manifest entries or their dicts."""
    out = []
    for f in files:
        if isinstance(f, Mapping):
            out.append([str(f["path"]), str(f["sha256"]), int(f["size"])])
        elif isinstance(f, list | tuple):
            out.append([str(f[0]), str(f[1]), int(f[2])])
        else:  # a ManifestEntry
            out.append([f.path, f.sha256, int(f.size)])
    return sorted(out)


def snapshot_fact(place: str, entries: Iterable[Any]) -> dict[str, Any]:
    return {"place": place, "manifest": manifest_entries(entries)}


def checks_fact(
    verdict: str,
    counts: Mapping[str, Any],
    blocking: Iterable[Any] = (),
    files: Iterable[Any] = (),
    direct_identifiers: int = 0,
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "counts": dict(counts),
        "blocking": list(blocking),
        "files": list(files),
        "direct_identifiers": int(direct_identifiers),
    }


def placement_fact(place: str, manifest_place: str | None) -> dict[str, Any]:
    return {"place": place, "manifest_place": manifest_place}


def run_fact(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id}


def bag_key(key: str) -> tuple[int, str] | None:
    """(round, fact) for a bag key that names a round fact, else None."""
    if key == "run_started":
        return 1, "trigger"
    m = _BAG_KEY.match(key)
    return (int(m.group(2)), _FACT_OF_BAG[m.group(1)]) if m else None


def fact_from_bag(fact: str, value: Any) -> dict[str, Any] | None:
    """The canonical fact from a bag value; None when the value is not of the known shape."""
    try:
        if fact in ("run", "trigger"):
            return run_fact(str(value)) if isinstance(value, str) and value else None
        if fact == "snapshot":
            # Only a manifest the storage layer accepts (safe paths, SHA-256s) is a snapshot.
            return snapshot_fact(str(value["place"]), Manifest.from_dict(value["manifest"]))
        if fact == "checks":
            return checks_fact(
                str(value["verdict"]),
                value.get("summary") or {},
                value.get("blocking") or (),
                value.get("files") or (),
                value.get("direct_identifiers") or 0,
            )
        if fact == "placement":
            return placement_fact(str(value["place"]), value.get("manifest"))
    except (KeyError, TypeError, ValueError, IndexError, StorageError):
        return None
    return None


def facts_from_bag(details: Mapping[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    """Every round fact a bag (or an audit event's details) spells with the old keys."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for key, value in details.items():
        where = bag_key(key)
        if where is None:
            continue
        fact = fact_from_bag(where[1], value)
        if fact is not None:
            found[where] = fact
    return found


def folder_version(folder: str) -> int | None:
    """The ``_vN`` suffix of a request folder's name, if it has one."""
    m = re.search(r"_v(\d+)$", folder)
    return int(m.group(1)) if m else None
