"""The three request kinds (output, ingest, transfer) as one interface: what differs between them.

Every step (:mod:`include.request_steps`) and the one DAG factory
(:mod:`include.dag_building.request_dag`) serve all three kinds; they ask the ticket's kind,
``kind_for(ticket.kind)``, for what is its own: eligibility, the folder and form, how many
officers, how the snapshot is checked, where it is kept, whether data owners approve, and what
is handed over at the end (released by email, or placed in a project's ``Input/``). No other
module branches on a kind's name.

DAG files import this module when Airflow parses them, so it imports only the state machine
at module level; each method imports what it works with when called (the tasks run them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from include.states import TicketState

if TYPE_CHECKING:
    from include.eligibility import Refusal
    from include.storage import Place
    from include.tickets import Ticket

S = TicketState
READY = "Ready for Checking"
SOURCE_AREAS = ("Working", READY)  # where a transfer may be copied from


class RequestKind(Protocol):
    """What one kind of request does differently. ``p`` is always the task's Pipeline."""

    name: str  # the ticket's kind
    dag_id: str
    snapshot_task: str  # the DAG task that takes the round's snapshot
    hand_over_step: str  # "release" or "place": the step (and task) after the sign-offs
    done: TicketState  # the state the hand-over leaves the ticket in, for archive
    return_blocked: bool  # blocking check findings go straight back to the researcher
    asks_data_owners: bool  # data owners of for-approval datasets sign off after the officers
    one_officer_may_do: bool  # officer_2 may skip itself (SRS_INGEST_OFFICERS=1)
    signoff_tasks: tuple[str, ...]  # the DAG's sign-off tasks, cleared when they are asked again
    between_projects: bool  # names a source area and a destination project (a transfer)
    submit_help: str  # what `srs submit <kind>` submits

    def submission_area(self, source_area: str | None) -> str:
        """The area a new request's folder is submitted from (a transfer's is chosen)."""
        ...

    def read_form(self, local: Path) -> tuple[Any, list[Any]]:
        """The request form at ``local`` and its empty required fields (FormError if unreadable)."""
        ...

    def run_params(self, ticket: Ticket) -> dict[str, str]:
        """The kind's own parameters of a run of ``ticket`` (beside project, folder, researcher)."""
        ...

    def intake_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The intake step's kind-specific arguments, from a run's params."""
        ...

    def source(self, ticket: Ticket) -> Place:
        """The researcher's folder of the current round."""
        ...

    def workspace(self, ticket: Ticket, rnd: int) -> Place:
        """Where round ``rnd``'s snapshot, manifest and reports are kept."""
        ...

    def area_name(self, ticket: Ticket) -> str:
        """The source area as the researcher knows it (in emails)."""
        ...

    def describe(self, ticket: Ticket) -> str:
        """What the request is, for sign-offs: "output from project **1234567**"."""
        ...

    def eligibility(self, p: Any, ticket: Ticket) -> list[Refusal]: ...

    def folder_and_form(
        self, p: Any, ticket: Ticket, folder: str, requester: str
    ) -> list[Refusal]: ...

    def officers_to_assign(self, p: Any) -> int: ...

    def officers_needed(self, ticket: Ticket) -> int:
        """Officer passes a round needs before its hand-over."""
        ...

    def check(self, p: Any, ticket: Ticket, local: Path) -> Any:
        """The CheckReport of the round's downloaded snapshot at ``local``."""
        ...

    def approvals_needed(self, p: Any, ticket: Ticket) -> list[str]:
        """Datasets whose data owners must approve before the hand-over."""
        ...

    def hand_over(self, p: Any, ticket: Ticket) -> dict[str, Any]:
        """Release or place the signed-off snapshot (the sign-offs are verified by the step)."""
        ...


def snapshot_place(ticket: Ticket) -> Place:
    """The current round's snapshot (outputs: ``Output/<STATS-ID>/<folder>``; ingest and
    transfer: their quarantine)."""
    return kind_for(ticket.kind).workspace(ticket, ticket.round).child(ticket.folder)


def reports_place(ticket: Ticket, rnd: int | None = None) -> Place:
    """Where a round's ``<folder>.manifest.json`` and ``<folder>.check.json|html`` are kept."""
    return kind_for(ticket.kind).workspace(ticket, rnd or ticket.round)


# --- outputs -----------------------------------------------------------------------------------


class OutputKind:
    """Outputs: from a full project's Ready for Checking, two officers, data owners, emailed."""

    name = "output"
    dag_id = "output_request"
    snapshot_task = "snapshot"
    hand_over_step = "release"
    done = S.RELEASED
    return_blocked = False
    asks_data_owners = True
    one_officer_may_do = False
    signoff_tasks = ("officer_1", "officer_2", "data_owner_signoff")
    between_projects = False
    submit_help = "a folder in the project's Ready for Checking, for output clearance"

    def intake_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def submission_area(self, source_area: str | None) -> str:
        return READY

    def read_form(self, local: Path) -> tuple[Any, list[Any]]:
        from include.request_forms import read_output

        return read_output(local)

    def run_params(self, ticket: Ticket) -> dict[str, str]:
        return {}

    def source(self, ticket: Ticket) -> Place:
        from include.storage import Place

        return Place(ticket.project, READY, ticket.folder)

    def workspace(self, ticket: Ticket, rnd: int) -> Place:
        from include.storage import Place

        return Place(ticket.project, "Output", ticket.stats_id)

    def area_name(self, ticket: Ticket) -> str:
        return READY

    def describe(self, ticket: Ticket) -> str:
        return f"output from project **{ticket.project}**"

    def eligibility(self, p: Any, ticket: Ticket) -> list[Refusal]:
        from include.eligibility import Refusal, output_eligibility, registered_project

        project = registered_project(p, ticket.project)
        if isinstance(project, Refusal):
            return [project]
        return output_eligibility(project, ticket.requester, p.today())

    def folder_and_form(self, p: Any, ticket: Ticket, folder: str, requester: str) -> list[Refusal]:
        from include.request_forms import folder_and_form, read_output

        return folder_and_form(
            p, ticket.project, folder, kind=self.name, read_form=read_output, requester=requester
        )

    def officers_to_assign(self, p: Any) -> int:
        return 2

    def officers_needed(self, ticket: Ticket) -> int:
        return 2

    def check(self, p: Any, ticket: Ticket, local: Path) -> Any:
        from include.request_checks import check_output

        return check_output(p, ticket, local)

    def approvals_needed(self, p: Any, ticket: Ticket) -> list[str]:
        from include.release import datasets_for_approval

        return datasets_for_approval(p.project(ticket.project))

    def hand_over(self, p: Any, ticket: Ticket) -> dict[str, Any]:
        from include.release import release

        return release(p, ticket, snapshot_place(ticket))


# --- ingest and transfer -----------------------------------------------------------------------


class _IncomingKind:
    """What ingest and transfer share: quarantine, minimisation checks, officers, placement."""

    name: str
    dag_id: str
    snapshot_task = "quarantine"
    hand_over_step = "place"
    done = S.PLACED
    return_blocked = True
    asks_data_owners = False
    one_officer_may_do = True
    signoff_tasks = ("officer_1", "officer_2")
    clears_landing = False  # an ingest's landing folder is emptied once placed
    between_projects = False

    def workspace(self, ticket: Ticket, rnd: int) -> Place:
        """The quarantine: the ticket's own archive folder, outside every project area."""
        from include.storage import ARCHIVE, Place

        return Place(ticket.project, ARCHIVE, f"{ticket.stats_id}/round{rnd}")

    def officers_to_assign(self, p: Any) -> int:
        return p.settings.ingest_officers

    def officers_needed(self, ticket: Ticket) -> int:
        # As many as were assigned at intake (SRS_INGEST_OFFICERS then), at least one.
        return max(1, len(ticket.assigned_officers))

    def check(self, p: Any, ticket: Ticket, local: Path) -> Any:
        from include.placement import receiving_project
        from include.request_checks import check_incoming

        return check_incoming(p, ticket, local, p.project(receiving_project(ticket)))

    def approvals_needed(self, p: Any, ticket: Ticket) -> list[str]:
        return []

    def hand_over(self, p: Any, ticket: Ticket) -> dict[str, Any]:
        from include.placement import place

        return place(p, ticket, snapshot_place(ticket), clear_landing=self.clears_landing)


class IngestKind(_IncomingKind):
    """Ingests: from outside the SRS, via the project's landing area, into its Input."""

    name = "ingest"
    dag_id = "ingest_request"
    clears_landing = True
    submit_help = "a folder in the project's ingest area, into its Input"

    def intake_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def submission_area(self, source_area: str | None) -> str:
        from include.storage import INGEST

        return INGEST

    def read_form(self, local: Path) -> tuple[Any, list[Any]]:
        from include.request_forms import read_ingest

        return read_ingest(local)

    def run_params(self, ticket: Ticket) -> dict[str, str]:
        return {}

    def source(self, ticket: Ticket) -> Place:
        from include.storage import INGEST, Place

        return Place(ticket.project, INGEST, ticket.folder)

    def area_name(self, ticket: Ticket) -> str:
        return "the ingest area"

    def describe(self, ticket: Ticket) -> str:
        return f"ingest into project **{ticket.project}**"

    def eligibility(self, p: Any, ticket: Ticket) -> list[Refusal]:
        from include.eligibility import Refusal, ingest_eligibility, registered_project

        project = registered_project(p, ticket.project)
        if isinstance(project, Refusal):
            return [project]
        return ingest_eligibility(project, ticket.requester, p.today())

    def folder_and_form(self, p: Any, ticket: Ticket, folder: str, requester: str) -> list[Refusal]:
        from include.request_forms import folder_and_form, read_ingest
        from include.storage import INGEST

        return folder_and_form(
            p,
            ticket.project,
            folder,
            area=INGEST,
            kind=self.name,
            read_form=read_ingest,
            requester=requester,
        )


class TransferKind(_IncomingKind):
    """Transfers: from one project's Working or Ready for Checking into another's Input."""

    name = "transfer"
    dag_id = "transfer_request"
    between_projects = True
    submit_help = "a folder of one project (--project) into another's Input (--destination)"

    def intake_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "destination": params["destination"],
            "details": {"source_area": str(params["source_area"]).strip()},
        }

    def submission_area(self, source_area: str | None) -> str:
        return str(source_area or "")

    def read_form(self, local: Path) -> tuple[Any, list[Any]]:
        from include.request_forms import read_transfer

        return read_transfer(local)

    def run_params(self, ticket: Ticket) -> dict[str, str]:
        return {
            "source_area": ticket.details.get("source_area", READY),
            "destination": ticket.destination_project or "",
        }

    def source(self, ticket: Ticket) -> Place:
        from include.storage import Place

        return Place(ticket.project, ticket.details.get("source_area", READY), ticket.folder)

    def area_name(self, ticket: Ticket) -> str:
        return ticket.details.get("source_area", READY)

    def describe(self, ticket: Ticket) -> str:
        return (
            f"transfer from project **{ticket.project}** to project "
            f"**{ticket.destination_project}**"
        )

    def eligibility(self, p: Any, ticket: Ticket) -> list[Refusal]:
        from include.eligibility import Refusal, registered_project, transfer_eligibility

        source = registered_project(p, ticket.project, "source")
        destination = registered_project(p, ticket.destination_project or "", "destination")
        if isinstance(source, Refusal) or isinstance(destination, Refusal):
            return [r for r in (source, destination) if isinstance(r, Refusal)]
        return transfer_eligibility(source, destination, ticket.requester, p.today())

    def folder_and_form(self, p: Any, ticket: Ticket, folder: str, requester: str) -> list[Refusal]:
        from include.eligibility import Refusal
        from include.request_forms import folder_and_form, read_transfer

        area = ticket.details.get("source_area", "")
        if area not in SOURCE_AREAS:
            return [
                Refusal(
                    "link_or_escape",
                    f"a transfer is copied from the source project's Working or Ready for "
                    f"Checking folder, not from {area!r}",
                )
            ]
        expect = {
            "project": ticket.project,
            "folder": folder,
            "destination": ticket.destination_project or "",
        }
        return folder_and_form(
            p,
            ticket.project,
            folder,
            area=area,
            kind=self.name,
            read_form=read_transfer,
            expect=expect,
            requester=requester,
        )


OUTPUT, INGEST, TRANSFER = OutputKind(), IngestKind(), TransferKind()
KINDS: dict[str, RequestKind] = {k.name: k for k in (OUTPUT, INGEST, TRANSFER)}
# The sign-off tasks of each kind's DAG (``srs reopen`` clears them to ask again).
SIGNOFF_TASKS: dict[str, tuple[str, ...]] = {k.name: k.signoff_tasks for k in KINDS.values()}
# The DAG that runs each kind's requests.
DAG_OF_KIND: dict[str, str] = {k.name: k.dag_id for k in KINDS.values()}


def kind_for(name: str) -> RequestKind:
    """The request kind called ``name`` (a ticket's ``kind``)."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(
            f"{name!r} is not a request kind; the kinds are {', '.join(KINDS)}"
        ) from None
