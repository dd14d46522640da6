"""The national portal's dossier status codes and the transitions allowed between them."""
from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    REGISTERED_ONLINE = 1
    RECEIVED = 2
    REFUSED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    FEE_REQUESTED = 6
    WITHDRAWAL_REQUESTED = 7
    STOPPED = 8
    RESOLVED = 9
    RETURNED = 10


LABELS = {
    Status.REGISTERED_ONLINE: "Mới đăng ký",
    Status.RECEIVED: "Được tiếp nhận",
    Status.REFUSED: "Không được tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung giấy tờ",
    Status.FEE_REQUESTED: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWAL_REQUESTED: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.RESOLVED: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}

# DOMAIN.md: 1 -> 2 | 3; 2 -> 4; 4 <-> 5; 4 <-> 6; 4 -> 9 -> 10; 7 -> 8.
# A citizen may ask to withdraw (7) while the dossier is still open at the desk.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REGISTERED_ONLINE: frozenset({Status.RECEIVED, Status.REFUSED}),
    Status.RECEIVED: frozenset({Status.PROCESSING, Status.WITHDRAWAL_REQUESTED}),
    Status.PROCESSING: frozenset({Status.SUPPLEMENT_REQUESTED, Status.FEE_REQUESTED,
                                  Status.RESOLVED, Status.WITHDRAWAL_REQUESTED}),
    Status.SUPPLEMENT_REQUESTED: frozenset({Status.PROCESSING, Status.WITHDRAWAL_REQUESTED}),
    Status.FEE_REQUESTED: frozenset({Status.PROCESSING, Status.WITHDRAWAL_REQUESTED}),
    Status.WITHDRAWAL_REQUESTED: frozenset({Status.STOPPED}),
    Status.RESOLVED: frozenset({Status.RETURNED}),
    Status.REFUSED: frozenset(),
    Status.STOPPED: frozenset(),
    Status.RETURNED: frozenset(),
}

FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# The due-time clock runs in these statuses; 5 pauses it, 1 has not started it.
CLOCK_RUNNING = frozenset({Status.RECEIVED, Status.PROCESSING, Status.FEE_REQUESTED})


class TransitionError(ValueError):
    """An illegal status change; ``message`` is Vietnamese, for the clerk."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def label(code: int) -> str:
    return LABELS[Status(code)]


# The legal (from, to) pairs as plain numbers: a pair found here is legal whatever equal value stands
# for each status (as Status(value) finds its member); every other pair takes the checking path below.
_LEGAL = frozenset((int(a), int(b)) for a, targets in TRANSITIONS.items() for b in targets)


def check_transition(current: int, target: int) -> None:
    try:
        if (current, target) in _LEGAL:  # (central checks this for every pushed event)
            return
    except TypeError:  # an unhashable value: the path below refuses it
        pass
    try:
        cur, tgt = Status(current), Status(target)
    except ValueError:
        raise TransitionError(f"Mã trạng thái không hợp lệ: {current} → {target}.") from None
    if tgt not in TRANSITIONS[cur]:
        raise TransitionError(
            f"Không thể chuyển hồ sơ từ “{LABELS[cur]}” ({int(cur)}) sang “{LABELS[tgt]}” ({int(tgt)})."
        )


def is_overdue(status: int, due_at: str | None, now_iso: str) -> bool:
    """Overdue is derived, never stored: the clock is running and now is past the due time."""
    return due_at is not None and due_at != "" and Status(status) in CLOCK_RUNNING and now_iso > due_at
