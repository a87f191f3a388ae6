"""Who may start request runs, and who may see which request (DESIGN.md: ``access``).

One module answers "may this person do this to this request?" for the pipeline's steps, the
operator view's pages and JSON endpoints, and the links we render. Who may *sign off* (officers
independent of the project, data owners of the dataset) stays in ``include.permissions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from include.registry import Person
from include.request_kinds import kind_for


def start_refusal(
    username: str | None, person: Person | None, service_users: Iterable[str]
) -> str | None:
    """Why ``username`` (the Airflow user who started a run) may not start request runs, or None.

    Only operations staff and the service account the sweeps and ``srs submit`` use start
    request runs; researchers never log in, officers and data owners only answer.
    """
    if not username:
        return "the run does not say which Airflow user started it"
    if username in set(service_users):
        return None
    if person is not None and person.is_operations:
        return None
    return (
        f"{username!r} may not start request runs: only SRS operations and the submission "
        "service start them (researchers submit with `srs submit` or a folder in Ready for Checking)"
    )


# --- who may see which request (the operator view: pages, JSON endpoints, links) --------------


class Scope(Enum):
    ALL = "all"  # operations (registry or Airflow admin) and officers: every request
    OWN_DATASETS = "own_datasets"  # data owners: requests touching a dataset they own
    NONE = "none"  # anyone else with an Airflow login (a researcher, an unknown user)


@dataclass(frozen=True)
class Reader:
    """A logged-in Airflow user as the operator view sees them."""

    username: str
    scope: Scope
    datasets: frozenset[str] = frozenset()  # owned, for Scope.OWN_DATASETS

    @property
    def sees_all(self) -> bool:
        return self.scope is Scope.ALL


def reader(
    username: str,
    person: Person | None,
    *,
    airflow_admin: bool = False,
    owned_datasets: Iterable[str] = (),
) -> Reader:
    """What ``username`` may see: all, their datasets' requests, or nothing.

    An Airflow admin is operations whether or not the registry lists them (they can read all
    of Airflow anyway); a registry officer or operations person sees all; a data owner sees
    the requests touching their datasets; a researcher, even one who also owns data, sees
    nothing more than that, and everyone else nothing.
    """
    owned = frozenset(owned_datasets)
    if airflow_admin or (person is not None and (person.is_operations or person.is_officer)):
        return Reader(username, Scope.ALL)
    if owned:
        return Reader(username, Scope.OWN_DATASETS, owned)
    return Reader(username, Scope.NONE)


def view_refusal(who: Reader) -> str | None:
    """Why ``who`` may not use the operator view at all, or None."""
    if who.scope is Scope.NONE:
        return (
            f"{who.username!r} may not see SRS requests: the operator view is for SRS "
            "operations, officers and the data owners of the datasets a request uses"
        )
    return None


def projects_touched(ticket: Any) -> tuple[str, ...]:
    """The projects whose data a request touches: its project, and a transfer's destination."""
    return tuple(p for p in (ticket.project, ticket.destination_project) if p)


def may_view(who: Reader, ticket: Any, datasets_of: Mapping[str, Iterable[str]]) -> bool:
    """May ``who`` see this request (its page, JSON, report, files and its place in the queue)?

    ``datasets_of`` maps a project number to its datasets' names (unregistered: none).
    """
    if who.scope is Scope.ALL:
        return True
    if who.scope is Scope.NONE:
        return False
    return any(who.datasets & set(datasets_of.get(p, ())) for p in projects_touched(ticket))


def ticket_refusal(
    who: Reader, ticket: Any, datasets_of: Mapping[str, Iterable[str]]
) -> str | None:
    """Why ``who`` may not see ``ticket``, or None (403 text for pages and endpoints)."""
    if may_view(who, ticket, datasets_of):
        return None
    return view_refusal(who) or (
        f"{who.username!r} may not see {ticket.stats_id}: it uses none of the datasets "
        f"{who.username!r} is a data owner of"
    )


def visible(
    who: Reader, tickets: Iterable[Any], datasets_of: Mapping[str, Iterable[str]]
) -> list[Any]:
    """The tickets ``who`` may see, in the order given."""
    return [t for t in tickets if may_view(who, t, datasets_of)]


def load_reader(database_url: str, username: str, *, airflow_admin: bool = False) -> Reader:
    """The :class:`Reader` for ``username`` from the registry in ``database_url``."""
    from include.db import session_scope
    from include.registry import datasets_owned_by, get_person

    with session_scope(database_url) as s:
        return reader(
            username,
            get_person(s, username),
            airflow_admin=airflow_admin,
            owned_datasets=datasets_owned_by(s, username),
        )


def load_datasets_of(database_url: str) -> dict[str, frozenset[str]]:
    """Every project's datasets, for :func:`may_view`."""
    from include.db import session_scope
    from include.registry import datasets_by_project

    with session_scope(database_url) as s:
        return datasets_by_project(s)


# --- blinded review: no officer sees the other's answer before giving their own --------------

# Audit actions whose details can carry an answer (outcome, guidance, a refusal quoting it).
BLINDED_ACTIONS = frozenset({"decision", "signoff_refused", "signoff_tampering"})
HIDDEN = "hidden until every officer of the round has answered"


def officers_needed(ticket: Any) -> int:
    """Officer sign-offs a round needs, as the ticket's kind says (outputs two; ingest and
    transfer one per officer assigned at intake)."""
    return kind_for(ticket.kind).officers_needed(ticket)


@dataclass(frozen=True)
class RoundProgress:
    round: int
    answered: int
    needed: int
    over: bool = False  # a later round began, or the ticket left the queue

    @property
    def blinded(self) -> bool:
        return not self.over and self.answered < self.needed

    @property
    def label(self) -> str:
        return f"{self.answered} of {self.needed} answered"


def round_progress(
    ticket: Any, decisions: Sequence[Any], rnd: int, answered_in_airflow: int = 0
) -> RoundProgress:
    """How many officers of round ``rnd`` have answered, and whether its answers are hidden.

    The ticket store records a round's officer decisions only once all are in, so the count
    Airflow has (answers given, not yet decided on) is taken when it is higher. A round that
    is over is never blinded: nobody can answer it any more.
    """
    needed = officers_needed(ticket)
    recorded = len({d.step for d in decisions if d.round == rnd and d.role == "officer"})
    return RoundProgress(
        rnd,
        min(needed, max(recorded, answered_in_airflow)),
        needed,
        over=rnd < ticket.round or not ticket.is_open,
    )


def blind_decisions(decisions: Sequence[Any], progress: Mapping[int, RoundProgress]) -> list[Any]:
    """The decisions anyone may see now: none of a blinded round (officers' and data
    owners' alike: data owners answer only after the officers anyway)."""
    return [d for d in decisions if not _blinded(progress, d.round)]


def blind_audit(
    events: Sequence[Any], progress: Mapping[int, RoundProgress], current_round: int
) -> list[Any]:
    """Audit events with the details of any answer in a blinded round replaced by a note."""
    shown = []
    for e in events:
        details = e.details or {}
        rnd = details.get("round", current_round) if isinstance(details, dict) else current_round
        if e.action in BLINDED_ACTIONS and _blinded(progress, rnd):
            keep = {k: details[k] for k in ("round", "step", "role") if k in details}
            e = replace(e, details={**keep, "answer": HIDDEN})
        shown.append(e)
    return shown


def _blinded(progress: Mapping[int, RoundProgress], rnd: Any) -> bool:
    found = progress.get(rnd) if isinstance(rnd, int) else None
    return bool(found and found.blinded)
