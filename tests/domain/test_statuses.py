import itertools

import pytest

from domain.statuses import FINAL, Status, TransitionError, check_transition, is_overdue

# The transitions DOMAIN.md allows, plus the withdrawal request from any open desk status.
ALLOWED = {(1, 2), (1, 3), (2, 4), (4, 5), (5, 4), (4, 6), (6, 4), (4, 9), (9, 10), (7, 8),
           (2, 7), (4, 7), (5, 7), (6, 7)}


@pytest.mark.parametrize("current,target", sorted(ALLOWED))
def test_allows_the_documented_transition(current, target):
    check_transition(current, target)


@pytest.mark.parametrize("current,target",
                         [p for p in itertools.product(range(1, 11), repeat=2) if p not in ALLOWED])
def test_refuses_every_other_transition_with_a_vietnamese_message(current, target):
    with pytest.raises(TransitionError) as info:
        check_transition(current, target)
    assert "Không thể chuyển hồ sơ" in info.value.message


def test_refused_stopped_and_returned_are_final():
    assert {Status.REFUSED, Status.STOPPED, Status.RETURNED} == FINAL


def test_overdue_is_derived_from_status_and_due_time():
    assert is_overdue(4, "2026-01-05T17:00:00", "2026-01-05T17:01:00")
    assert not is_overdue(4, "2026-01-05T17:00:00", "2026-01-05T17:00:00")
    assert not is_overdue(5, "2026-01-05T17:00:00", "2026-01-09T08:00:00")  # paused clock
    assert not is_overdue(9, "2026-01-05T17:00:00", "2026-01-09T08:00:00")
    assert not is_overdue(1, None, "2026-01-09T08:00:00")
