"""On SQLite, pushes that queue for the writer while it is busy are stored in one transaction (group
commit, central.ingest._store_queued): each with the same checks, rows and reply as alone, in its own
savepoint, so one that fails is rolled back alone."""
from __future__ import annotations

import threading
import time

import pytest

from central import ingest
from domain import workflow
from tests.central.conftest import AGENCY, OTHER_AGENCY, FakeNode
from tests.central.test_ingest_pool import (
    dump,
    enrol,
    histories,
    make_app,
    requests_of,
    run,
    twin_dir,  # noqa: F401  (a fixture)
)


@pytest.fixture
def sqlite_only(central_backend):
    if central_backend != "sqlite":
        pytest.skip("group commit is SQLite's: PostgreSQL stores pushes of different nodes in parallel")


def queued(database) -> int:
    with ingest._WAITING_LOCK:
        return len(ingest._WAITING.get(str(database), []))


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def test_pushes_that_queue_for_the_writer_are_stored_together_with_the_rows_and_replies_they_get_one_at_a_time(
        sqlite_only, central_dir, twin_dir, clock):  # noqa: F811
    alone, grouped = make_app(central_dir, clock, 0), make_app(twin_dir, clock, 0)
    node, other, pushes = histories(clock)
    for app in (alone, grouped):
        enrol(app, clock, node)
        enrol(app, clock, other)
    sent = requests_of(pushes)
    replies = run(alone, sent)  # one at a time, each committed before the next is sent

    database = grouped.config["DATABASE"]
    got: list = [None] * len(sent)
    threads = []

    def push(i):
        got[i] = run(grouped, [sent[i]])[0]

    with ingest.SQLITE_WRITERS:  # the writer is busy: every push queues, in the order it is sent
        for i in range(len(sent)):
            threads.append(threading.Thread(target=push, args=(i,)))
            threads[-1].start()
            wait_until(lambda n=i + 1: queued(database) == n, f"push {i + 1} queued")
        assert len(sent) <= ingest.GROUP_MAX
    for thread in threads:
        thread.join(30)
    assert queued(database) == 0
    assert got == replies
    assert [status for status, _ in replies] == [200, 200, 200, 200, 200, 200, 409]  # a fork among them
    assert dump(grouped) == dump(alone)


def test_a_push_that_fails_inside_a_group_is_rolled_back_alone_and_the_others_are_stored(
        sqlite_only, central_app, conn, clock):
    from central.db import connect
    nodes = [FakeNode(clock), FakeNode(clock, OTHER_AGENCY)]
    for fake in nodes:
        enrol(central_app, clock, fake)
        code = fake.receive()
        fake.act(code, workflow.start_processing, {"handler": "hung"})
    caps, where = central_app.config["CAPS"], central_app.config["DATABASE"]

    def batch(fake):
        body, signature = fake.seal(fake.payload(events=fake.events, pending=0, oldest_pending_at=None))
        job = ingest.Job(False, fake.agency, ingest.node_keys(conn, fake.agency), body, signature, None, caps,
                         clock.now)
        return ingest.prepare(job)

    broken = batch(nodes[1])
    broken.ids = broken.ids[:1]  # fails after its batch row is written: two events, one id
    group = [ingest._Push(AGENCY, batch(nodes[0]), "push", clock.now, caps.max_event),
             ingest._Push(OTHER_AGENCY, broken, "push", clock.now, caps.max_event),
             ingest._Push(OTHER_AGENCY, batch(nodes[1]), "push", clock.now, caps.max_event)]
    writer = connect(where)
    try:
        ingest._commit_group(writer, group)
    finally:
        writer.close()
    assert all(push.done for push in group)
    assert isinstance(group[1].error, IndexError) and group[1].result is None
    assert [push.result["accepted"] for push in (group[0], group[2])] == [2, 2]
    assert group[0].error is None and group[2].error is None
    assert [tuple(r) for r in conn.execute("SELECT node, first_seq, last_seq FROM batches ORDER BY id")] == [
        (AGENCY, 1, 2), (OTHER_AGENCY, 1, 2)]
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    assert [tuple(r) for r in conn.execute("SELECT head_seq FROM nodes ORDER BY id")] == [(2,), (2,)]
