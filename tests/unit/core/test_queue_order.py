from datetime import UTC, datetime, timedelta

from include.queue_order import receipt_time, weight_of
from include.settings import get_settings
from include.states import TicketState as S
from include.tickets import TicketStore


def test_earlier_receipt_weighs_more():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert weight_of(now - timedelta(hours=1)) > weight_of(now) > 0


def test_resubmitted_round_joins_the_back_of_the_queue():
    store = TicketStore(get_settings().database_url)
    first = store.create(kind="output", project="1234567", requester="r", folder="a_v1", actor="r")
    second = store.create(kind="output", project="1234567", requester="r", folder="b_v1", actor="r")
    now = datetime.now(UTC) + timedelta(minutes=5)
    assert receipt_time(first.run_id, store, now) < receipt_time(second.run_id, store, now)
    # First is sent back for revisions; its round 2 run is created later: behind second.
    store.transition(first.stats_id, S.CHECKING, actor="p")
    store.transition(first.stats_id, S.REVISIONS_REQUESTED, actor="p")
    assert receipt_time(f"{first.stats_id}-r2", store, now) == now
    assert weight_of(receipt_time(f"{first.stats_id}-r2", store, now)) < weight_of(receipt_time(second.run_id, store, now))


def test_other_run_ids():
    store = TicketStore(get_settings().database_url)
    assert receipt_time("manual__2026-11-25T10:00:00+00:00", store) == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert receipt_time("STATS99999-r1", store) is None
    assert receipt_time("something_else", store) is None
