"""Receipt-order priority for request tasks, registered with Airflow as a plugin."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.task.priority_strategy import PriorityWeightStrategy


class ReceiptOrder(PriorityWeightStrategy):
    """Tasks of earlier-received requests (this round of them) weigh more; see include/queue_order."""

    def get_weight(self, ti) -> int:
        fallback = getattr(getattr(ti, "task", None), "priority_weight", 1) or 1
        try:
            from include.queue_order import receipt_time, weight_of
            from include.settings import get_settings
            from include.tickets import TicketStore

            received = receipt_time(ti.run_id, TicketStore(get_settings().database_url))
        except Exception:  # noqa: BLE001 - a priority must never stop a task being scheduled
            return fallback
        return weight_of(received) if received else fallback


# DAGs name the strategy by its import path: Airflow serialises a mapped task's weight rule as
# given, and only a string survives that round trip (an instance becomes its repr).
RECEIPT_ORDER = f"{ReceiptOrder.__module__}.{ReceiptOrder.__qualname__}"


class SrsPriorityPlugin(AirflowPlugin):
    name = "srs_priority"
    priority_weight_strategies = [ReceiptOrder]
