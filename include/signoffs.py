"""Sign-off options and the rules their answers must meet (cheap to import at DAG parse time)."""

from __future__ import annotations

from collections.abc import Sequence

OFFICER_OPTIONS = ["Pass", "Request revisions", "Query researcher"]
DATA_OWNER_OPTIONS = ["Approve", "Request revisions"]
PASSING = frozenset({"Pass", "Approve"})


def validate_response(
    option: str,
    guidance: str,
    exemption: str,
    *,
    blocking: int,
    files: Sequence[tuple[str, str]] = (),
) -> str | None:
    """Why an answer cannot be accepted, or None. Airflow accepts any form; we do not.

    ``files`` is the per-file guidance (path, text): it counts as guidance for the researcher.
    """
    if option not in OFFICER_OPTIONS and option not in DATA_OWNER_OPTIONS:
        return f"{option!r} is not one of the options"
    if option not in PASSING and not guidance.strip() and not any(t.strip() for _, t in files):
        return (
            f"'{option}' needs guidance for the researcher: write it in 'Guidance for the "
            "researcher' or in the box of each file that needs changes"
        )
    if option == "Pass" and blocking and not exemption.strip():
        return f"the automated checks found {blocking} blocking issue(s): passing needs an exemption reason"
    return None
