"""What the sync worker sends first after a failure (node/sync.py SyncWorker.after_failure).

The errors are the ones node/sync_client.py raises (``fail`` plus what ``push`` adds); the worker
is the real one, not started: only its decision is read.
"""
from __future__ import annotations

from node.sync import ASK_HEAD_BYTES, SyncWorker
from node.sync_client import CutUpload, fail

SETTINGS = {"sync_backoff_cap_seconds": 2, "sync_interval_seconds": 60, "sync_heartbeat_seconds": 900}


def worker_after(*errors) -> SyncWorker:
    worker = SyncWorker("/nonexistent", SETTINGS)
    for exc in errors:
        worker.after_failure(exc)
    return worker


def cut(events: int = 200, body: int = 11_000, whole: bool = False, exchanges: int = 1, kind: str = "dropped"):
    exc = fail(kind, f"push: {kind}")
    exc.batch_events, exc.body_bytes, exc.sent_whole, exc.exchanges = events, body, whole, exchanges
    return exc


def test_a_batch_cut_on_its_way_is_sent_again_without_a_hello_first():
    assert worker_after(cut()).probe is False


def test_a_small_batch_that_left_whole_is_sent_again_without_a_hello_first():
    assert worker_after(cut(body=ASK_HEAD_BYTES - 1, whole=True)).probe is False


def test_a_big_batch_that_left_whole_asks_centrals_head_before_it_goes_again():
    assert worker_after(cut(body=ASK_HEAD_BYTES, whole=True)).probe is True


def test_a_failed_hello_is_followed_by_a_hello():
    assert worker_after(cut(events=0, body=140)).probe is True


def test_a_second_failure_with_nothing_through_sends_a_hello_so_no_batch_is_spent_on_a_dead_link():
    assert worker_after(cut(), cut(exchanges=0)).probe is True


def test_a_cut_after_exchanges_went_through_starts_a_new_streak():
    worker = worker_after(cut(exchanges=0), cut(exchanges=0), cut(exchanges=3))
    assert worker.failures == 1
    assert worker.probe is False


def test_a_batch_that_timed_out_or_was_too_large_is_sent_again_without_a_hello_first():
    assert worker_after(cut(kind="timeout")).probe is False
    assert worker_after(cut(kind="too_large")).probe is False


def test_after_central_answered_a_batch_with_a_server_error_a_hello_asks_whether_it_recovered():
    assert worker_after(cut(kind="server")).probe is True


def resumable(exc, upload: CutUpload):
    """What push adds when central said it keeps the part of a cut push (wire.resume)."""
    exc.upload, exc.resumable = upload, True
    return exc


def an_upload(body: int = 11_000, whole: bool = False) -> CutUpload:
    return CutUpload("0123456789abcdef", b"x" * body, "nonce", True, 1, 200, whole)


def test_a_cut_push_central_can_resume_is_kept_for_the_next_attempt_with_no_hello_first():
    upload = an_upload()
    worker = worker_after(resumable(cut(), upload))
    assert worker.cut is upload and worker.probe is False


def test_a_big_push_that_left_whole_to_a_central_that_resumes_asks_where_its_copy_ends_not_a_hello():
    upload = an_upload(body=ASK_HEAD_BYTES, whole=True)  # push then asks central, and says hello only if it has none
    worker = worker_after(resumable(cut(body=ASK_HEAD_BYTES, whole=True), upload))
    assert worker.cut is upload and worker.probe is False


def test_a_cut_push_is_not_kept_when_central_cannot_resume_it():
    exc = cut()
    exc.upload = an_upload()  # the client keeps it; push found central does not resume (no wire.resume)
    worker = worker_after(exc)
    assert worker.cut is None and worker.probe is False


def test_a_failed_resume_whose_probe_central_answered_counts_as_contact():
    exc = resumable(cut(exchanges=0), an_upload())
    exc.answered = True  # the GET was answered, the POST of the rest was cut
    worker = worker_after(cut(exchanges=0), exc)
    assert worker.failures == 1 and worker.probe is False and worker.cut is not None
