"""What Airflow itself recorded about Required Actions, read from its metadata database.

The plugin runs inside Airflow's API server, so it reads Airflow's HITL details the way
Airflow's own routes do (one session, the ORM models), never a task's XCom. Nothing here
writes. Imports of Airflow are inside the functions: tests replace this reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WaitingSignoff:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    created_at: datetime | None


class AirflowHitl:
    """Reads of Airflow's ``hitl_detail`` table (the plugin's only view of Required Actions)."""

    def waiting_for(self, user_id: str) -> list[WaitingSignoff]:
        """Sign-off tasks parked for ``user_id``: assigned to them, no response yet."""
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance as TI
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        waiting = (TaskInstanceState.AWAITING_INPUT, TaskInstanceState.DEFERRED)
        query = (
            select(
                TI.dag_id,
                TI.run_id,
                TI.task_id,
                TI.map_index,
                HITLDetail.subject,
                HITLDetail.created_at,
                HITLDetail.assignees,
            )
            .join(HITLDetail, HITLDetail.ti_id == TI.id)
            .where(HITLDetail.responded_at.is_(None), TI.state.in_(waiting))
            .order_by(HITLDetail.created_at)
        )
        with create_session() as session:
            rows = session.execute(query).all()
        # assignees is JSON ([{"id", "name"}]): filtered here, the same on every database.
        return [
            WaitingSignoff(r.dag_id, r.run_id, r.task_id, r.map_index, r.subject, r.created_at)
            for r in rows
            if any(str(a.get("id")) == user_id for a in (r.assignees or []))
        ]

    def answered_tasks(self, dag_id: str, run_id: str) -> set[str]:
        """Task ids of the run whose current try has a response Airflow recorded."""
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance as TI
        from airflow.utils.session import create_session
        from sqlalchemy import select

        query = (
            select(TI.task_id)
            .join(HITLDetail, HITLDetail.ti_id == TI.id)
            .where(TI.dag_id == dag_id, TI.run_id == run_id, HITLDetail.responded_at.is_not(None))
        )
        with create_session() as session:
            return set(session.scalars(query))


def get_hitl() -> AirflowHitl:
    return AirflowHitl()
