"""A synthetic table as the secondary-disclosure rules see it (shared by their tests)."""

from __future__ import annotations

from include.checks.table_profile import TableProfile, profile_columns


def table(
    name: str, headers: list[str], rows: list[list[object]], source: str = ""
) -> TableProfile:
    """The profile of a table named ``name`` with these headers and rows (row 1 the header)."""
    profile = profile_columns(
        source,
        name,
        None,
        name,
        headers,
        [(i + 2, [str(v) for v in r]) for i, r in enumerate(rows)],
    )
    assert profile is not None
    return profile
