"""How DAG tasks map the core's outcomes: refusals fail at once, closed tickets skip."""

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.dag_building.task_steps import run_step
from include.permissions import NotPermitted
from include.release import ReleaseHeld
from include.tickets import TicketClosed


def _raise(exc):
    raise exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TicketClosed("STATS00001 was closed"), AirflowSkipException),
        (NotPermitted("not independent"), AirflowFailException),
        (ReleaseHeld("too large"), AirflowFailException),
    ],
)
def test_outcomes(exc, expected):
    with pytest.raises(expected, match=str(exc)):
        run_step(_raise, exc)


def test_other_errors_stay_retryable_and_values_pass_through():
    with pytest.raises(OSError):
        run_step(_raise, OSError("S3 unreachable"))
    assert run_step(lambda a, b=0: a + b, 1, b=2) == 3
