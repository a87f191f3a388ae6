"""Sign-off options and the rules their answers must meet (cheap to import at DAG parse time)."""

from __future__ import annotations

OFFICER_OPTIONS = ["Pass", "Request revisions", "Query researcher"]
DATA_OWNER_OPTIONS = ["Approve", "Request revisions"]
PASSING = frozenset({"Pass", "Approve"})


def validate_response(option: str, guidance: str, exemption: str, *, blocking: int) -> str | None:
    """Why an answer cannot be accepted, or None. Airflow accepts any form; we do not."""
    if option not in OFFICER_OPTIONS and option not in DATA_OWNER_OPTIONS:
        return f"{option!r} is not one of the options"
    if option not in PASSING and not guidance.strip():
        return f"'{option}' needs guidance text for the researcher"
    if option == "Pass" and blocking and not exemption.strip():
        return f"the automated checks found {blocking} blocking issue(s): passing needs an exemption reason"
    return None
