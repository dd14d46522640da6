"""The blob lane's chunk sizing and pacing (node/blob_lane.py): pure arithmetic, no link."""
from __future__ import annotations

import pytest

from node.blob_lane import MAX_CHUNK, MIN_CHUNK, START_CHUNK, ChunkSizer, pace_delay


def test_chunks_double_on_success_up_to_the_cap_and_halve_on_failure():
    sizer = ChunkSizer()
    assert sizer.next() == START_CHUNK
    sizes = []
    for _ in range(8):
        sizes.append(sizer.next())
        sizer.success(sizer.next(), 0.0)  # no time measured: only the cap bounds growth
    assert sizes[:3] == [START_CHUNK, 2 * START_CHUNK, 4 * START_CHUNK] and sizes[-1] == MAX_CHUNK
    sizer.failure(reset=False)
    assert sizer.next() == MAX_CHUNK // 2
    for _ in range(30):
        sizer.failure(reset=False)
    assert sizer.next() == MIN_CHUNK


def test_a_chunk_takes_at_most_the_target_seconds_on_the_measured_link():
    sizer = ChunkSizer(target_seconds=20)
    for _ in range(10):
        n = sizer.next()
        sizer.success(n, n / 8000)  # a 64 kbit/s link
    assert sizer.next() == 160_000  # 20 s at 8,000 B/s


def test_the_round_trip_is_kept_out_of_the_measured_rate():
    sizer = ChunkSizer(target_seconds=20)
    sizer.round_trip(0.6)
    for _ in range(10):
        n = sizer.next()
        sizer.success(n, n / 8000 + 0.6)  # 64 kbit/s, 300 ms each way
    assert sizer.next() == 160_000


def simulate(reset_every: int, blob_bytes: int, sizer: ChunkSizer, overhead: int = 600) -> tuple[int, int]:
    """Send ``blob_bytes`` through a link whose connection dies after ``reset_every`` bytes; returns
    (blob bytes sent again, resets). A cut chunk is lost from its start up to the cut."""
    carried, done, resent, resets = 0, 0, 0, 0
    while done < blob_bytes:
        n = min(sizer.next(), blob_bytes - done)
        if carried + n + overhead > reset_every:
            resent += max(0, reset_every - carried - overhead)  # the part of the chunk that crossed in vain
            resets += 1
            carried = 0
            sizer.failure(reset=True)
            continue
        carried += n + overhead
        done += n
        sizer.success(n, n / 8000)
    return resent, resets


def test_with_a_reset_every_50_kB_the_bytes_sent_again_stay_under_5_percent_of_the_blob_bytes():
    resent, resets = simulate(50_000, 6_000_000, ChunkSizer())
    assert resets > 100
    assert resent / 6_000_000 <= 0.05


def test_after_the_link_steadies_chunks_grow_again():
    sizer = ChunkSizer()
    simulate(50_000, 1_000_000, sizer)
    small = sizer.next()
    assert small <= 50_000 // 20  # 1/40 of what the lane saw carried: at most a 20th of the reset interval
    for _ in range(200):
        n = sizer.next()
        sizer.success(n, n / 8000)
    assert sizer.next() > 20 * small


@pytest.mark.parametrize(("share", "office", "expected"), [
    (50, True, 4.0), (25, True, 12.0), (100, True, 0.0), (50, False, 0.0), (10, True, 36.0)])
def test_pacing_keeps_blobs_to_their_share_of_the_link_in_office_hours_only(share, office, expected):
    assert pace_delay(4.0, share, office) == pytest.approx(expected)


def test_what_the_sizer_learnt_of_the_link_survives_a_restart_of_the_node():
    sizer = ChunkSizer()
    simulate(50_000, 500_000, sizer)
    again = ChunkSizer()
    again.loads(sizer.dumps())
    assert again.next() == sizer.next() and again.between == int(sizer.between)
    fresh = ChunkSizer()
    fresh.loads("not a state")
    assert fresh.next() == START_CHUNK


def test_a_chunk_holds_the_line_for_blob_chunk_seconds_while_paced_and_three_times_that_on_the_whole_link():
    from node.blob_lane import chunk_target
    assert chunk_target(20, 50, office_hours=True) == 20
    assert chunk_target(20, 50, office_hours=False) == 60
    assert chunk_target(20, 100, office_hours=True) == 60
