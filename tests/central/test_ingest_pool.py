"""Pushes checked in central's pool of worker processes (setting ingest_workers) store exactly what
the serving process alone stores, and a worker that dies fails the push cleanly (503, nothing kept)."""
from __future__ import annotations

import os
import signal

import pytest

from central import ingest
from domain import workflow
from domain.codes import format_code
from protocol import keys, wire2
from protocol import sync as wire
from protocol.canonical import canonical_json
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
from tests.central.conftest import AGENCY, OTHER_AGENCY, FakeNode, add_node, open_reply
from tests.conftest import CENTRAL_ADMIN_PASSWORD

TABLES = {  # every table a push writes, in a stable order
    "batches": "id", "events": "node, seq", "dossiers": "code", "anomalies": "id", "forks": "node, seq",
    "nodes": "id", "online_counters": "agency, day",
}


@pytest.fixture
def twin_dir(tmp_path, clock, central_backend, request):
    """A second central data folder on the same engine as ``central_dir``."""
    from central.provision import init_central
    url, name, cluster = "", None, None
    if central_backend != "sqlite":
        cluster = request.getfixturevalue("pg_cluster")
        name = f"central_twin_{os.getpid()}_{id(tmp_path)}"
        url = cluster.create_database(name, template="motcua_template")
    data = tmp_path / "twin"
    init_central(data, name="UBND tỉnh Quảng Ninh", admin="admin", password=CENTRAL_ADMIN_PASSWORD, now=clock.now,
                 database=url)
    yield data
    if cluster is not None:
        from central.db import close_pools_for
        close_pools_for(url)
        cluster.drop_database(name)


def make_app(data_dir, clock, workers):
    from central.app import create_app
    from central.settings import load_settings
    settings = dict(load_settings(data_dir), ingest_workers=workers)
    return create_app({"DATA_DIR": data_dir, "CLOCK": clock, "TESTING": True, "SETTINGS": settings})


def dump(app) -> dict:
    from central.db import close_pools, connect
    conn = connect(app.config["DATABASE"])
    try:
        tables = {t: [dict(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY {order}")]
                  for t, order in TABLES.items()}
    finally:
        conn.close()
    close_pools(app)
    for row in tables["nodes"]:
        row.pop("enrolled_at", None)  # each twin enrolled its nodes itself
    return tables


def enrol(app, clock, fake: FakeNode) -> None:
    from central.db import connect
    conn = connect(app.config["DATABASE"])
    try:
        code = add_node(conn, clock, fake.agency)
    finally:
        conn.close()
    assert fake.enrol(app.test_client(), code).status_code == 200


def histories(clock) -> tuple[FakeNode, FakeNode, list]:
    """Two nodes and the pushes they make, in order: v1 and v2 batches, anomalies, a resend, an
    overlapping batch, a fork; each push is (node, wire version, events)."""
    node, other = FakeNode(clock), FakeNode(clock, OTHER_AGENCY)
    pushes = []
    codes = [node.receive() for _ in range(4)]
    node.act(codes[0], workflow.start_processing, {"handler": "hung"})
    pushes.append((node, 1, list(node.events)))
    start = len(node.events)
    node.act(codes[1], workflow.start_processing, {"handler": "an"})
    node.act(codes[1], workflow.hand_up, {"to_unit": "UBND huyện"})
    node.append("dossier.resolved", codes[1], {"from": 4, "to": 9, "note": "",  # central holds it: anomaly
                                               "set": {"resolved_at": workflow.iso(clock.now), "holder": "node"}})
    node.append("dossier.processing", codes[2], {"from": 2, "to": 9, "set": {}, "note": ""})  # illegal: anomaly
    node.append("dossier.processing", format_code(OTHER_AGENCY, clock.now.date(), 1),  # another commune's
                {"from": 2, "to": 4, "set": {"handler": "x"}, "note": ""})
    codes.append(node.receive())
    pushes.append((node, 2, node.events[start:]))
    pushes.append((node, 2, node.events[start:]))  # the reply was lost: the same batch again
    theirs = other.receive()
    pushes.append((other, 1, list(other.events)))
    overlap = len(node.events) - 2
    node.act(codes[3], workflow.start_processing, {"handler": "hung"})
    node.act(codes[4], workflow.start_processing, {"handler": "lan"})
    pushes.append((node, 2, node.events[overlap:]))  # two stored events and two new ones
    node.append("dossier.processing", theirs, {"from": 2, "to": 4, "set": {"handler": "y"}, "note": ""})
    pushes.append((node, 1, node.events[-1:]))
    forked = dict(node.events[-1], actor="someone else")
    pushes.append((node, 1, [forked]))  # a different event under a stored seq: a fork
    return node, other, pushes


def requests_of(pushes) -> list[tuple[bytes, dict]]:
    """Each push as the node sends it (body and headers), made once so both centrals get the same bytes."""
    out = []
    for fake, version, events in pushes:
        payload = fake.payload(events=events, pending=0, oldest_pending_at=events[0]["at"])
        if version == 1:
            body, signature = fake.seal(payload)
            out.append((body, {NODE_HEADER: fake.agency, SIGNATURE_HEADER: signature, "Content-Encoding": "gzip"}))
            continue
        raw = canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(events, fake.agency)))
        out.append((wire2.compress(raw), {NODE_HEADER: fake.agency, SIGNATURE_HEADER: keys.sign(fake.key, raw),
                                          wire2.BATCH_SIGNATURE_HEADER: keys.sign(fake.key, canonical_json(payload)),
                                          "Content-Encoding": wire2.ENCODING}))
    return out


def run(app, sent) -> list[tuple[int, dict]]:
    client, replies = app.test_client(), []
    for body, headers in sent:
        response = client.post(wire.PUSH, data=body, headers=dict(headers, **{"Content-Type": "application/json"}))
        reply = open_reply(app, response)
        replies.append((response.status_code, {k: v for k, v in reply.items() if k not in ("request", "feed_head")}))
    return replies


def test_batches_checked_in_worker_processes_store_the_same_bytes_and_rows_as_the_serving_process_alone(
        central_dir, twin_dir, clock):
    alone, pooled = make_app(central_dir, clock, 0), make_app(twin_dir, clock, 2)
    node, other, pushes = histories(clock)
    for app in (alone, pooled):
        enrol(app, clock, node)
        enrol(app, clock, other)
    sent = requests_of(pushes)
    replies = run(alone, sent)
    assert run(pooled, sent) == replies
    assert 2 in ingest._POOLS  # the pooled central did use its workers
    assert [status for status, _ in replies] == [200, 200, 200, 200, 200, 200, 409]
    assert [r.get("duplicates") for _, r in replies[:6]] == [0, 0, 6, 0, 2, 0]
    first, second = dump(alone), dump(pooled)
    assert first == second
    assert len(first["events"]) == 15 and len(first["batches"]) == 5 and len(first["forks"]) == 1
    assert [a["message"].split(": ", 1)[1] for a in first["anomalies"]] == [
        "central holds this dossier (handed up); dossier.resolved from node 000.00.06.H56 ignored",
        "illegal transition 2 -> 9",
        "node 000.00.06.H56 may not create a dossier under agency 000.00.07.H56; event ignored",
        "dossier belongs to node 000.00.07.H56; event ignored"]
    assert len(first["dossiers"]) == 6


def test_a_worker_folds_a_batch_and_the_writer_keeps_that_fold_only_while_the_rows_it_read_are_unchanged(
        central_app, central, conn, clock, node):
    code = node.receive()
    first = node.payload(events=list(node.events), pending=0, oldest_pending_at=None)
    node.act(code, workflow.start_processing, {"handler": "hung"})
    second = node.payload(events=node.events[1:], pending=0, oldest_pending_at=None)
    keys = ingest.node_keys(conn, AGENCY)
    where = central_app.config["DATABASE"]
    caps = central_app.config["CAPS"]

    def job(payload):
        body, signature = node.seal(payload)
        return ingest.Job(False, AGENCY, keys, body, signature, None, caps, clock.now, where)

    early = ingest.prepare(job(second))  # read before the dossier exists: its fold finds no dossier
    assert early.fold is not None and early.events is None
    assert early.fold.rows == [] and len(early.fold.anomalies) == 1
    assert ingest.store_batch(conn, AGENCY, ingest.prepare(job(first)), source="push", now=clock.now,
                              caps=caps)[0] == 200
    status, reply = ingest.store_batch(conn, AGENCY, early, source="push", now=clock.now, caps=caps)
    assert status == 200 and reply["accepted"] == 1
    found = conn.execute("SELECT status, handler FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert (found["status"], found["handler"]) == (4, "hung")  # folded again by the writer, on the stored row
    assert conn.execute("SELECT count(*) FROM anomalies").fetchone()[0] == 0
    node.act(code, workflow.request_supplement, {"items": "Bản sao giấy khai sinh", "reason": "Thiếu bản sao"})
    fresh = ingest.prepare(job(node.payload(events=node.events[2:], pending=0, oldest_pending_at=None)))
    assert fresh.fold is not None and fresh.fold.anomalies == []
    assert fresh.fold.snapshot == ingest.load_states(conn, [code])


def test_a_worker_keeps_one_reading_connection_and_opens_it_again_for_a_replaced_or_another_file(
        central_app, conn, clock, node, central_backend, tmp_path):
    if central_backend != "sqlite":
        pytest.skip("on PostgreSQL a worker reads through a connection per batch")
    from appshell.sqlite import backup_to
    where = central_app.config["DATABASE"]
    code = node.receive()
    before = backup_to(conn, tmp_path / "before.db")  # (single files in rollback-journal mode, like a restore's)
    caps = central_app.config["CAPS"]
    body, signature = node.seal(node.payload(events=node.events, pending=0, oldest_pending_at=None))
    job = ingest.Job(False, AGENCY, ingest.node_keys(conn, AGENCY), body, signature, None, caps, clock.now, where)
    assert ingest.store_batch(conn, AGENCY, ingest.prepare(job), source="push", now=clock.now, caps=caps)[0] == 200
    after = backup_to(conn, tmp_path / "after.db")

    live = ingest._read_states(where, [code])
    assert list(live) == [code]
    kept = ingest._READER[1]
    assert ingest._read_states(where, [code]) == live and ingest._READER[1] is kept  # kept, and reads what is new
    path = tmp_path / "central.db"
    path.write_bytes(after.read_bytes())
    assert list(ingest._read_states(path, [code])) == [code] and ingest._READER[1] is not kept  # another file
    kept = ingest._READER[1]
    os.replace(before, path)  # a restore puts an older file at the same path
    assert ingest._read_states(path, [code]) == {} and ingest._READER[1] is not kept
    path.unlink()
    with pytest.raises(OSError):
        ingest._read_states(path, [code])
    missing = ingest.Job(False, AGENCY, job.keys, body, signature, None, caps, clock.now, path)
    batch = ingest.prepare(missing)
    assert batch.fold is None and batch.events == node.events  # the writer folds it, with the database at hand


def test_a_fold_that_needs_the_database_is_left_to_the_writer(central_app, conn, clock, node):
    from domain.codes import ONLINE_FIRST
    node.day_seq = ONLINE_FIRST - 1
    assert node.receive() == format_code(AGENCY, clock.now.date(), ONLINE_FIRST)  # central's counter moves past it
    body, signature = node.seal(node.payload(events=node.events, pending=0, oldest_pending_at=None))
    batch = ingest.prepare(ingest.Job(False, AGENCY, ingest.node_keys(conn, AGENCY), body, signature, None,
                                      central_app.config["CAPS"], clock.now, central_app.config["DATABASE"]))
    assert batch.fold is None and batch.events == node.events


def test_a_push_whose_worker_was_killed_is_refused_with_503_stores_nothing_and_goes_through_when_sent_again(
        central_dir, clock):
    app = make_app(central_dir, clock, 1)
    fake = FakeNode(clock)
    enrol(app, clock, fake)
    client = app.test_client()
    fake.receive()
    assert fake.push(client).status_code == 200
    for process in list(ingest._POOLS[1]._processes.values()):  # a worker crashes (out of memory, a bug)
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
    fake.receive()
    batch = fake.events[1:]
    response = fake.push(client, batch)
    assert response.status_code == 503
    assert open_reply(app, response)["error"]["code"] == "unavailable"
    tables = dump(app)
    assert [e["seq"] for e in tables["events"]] == [1] and len(tables["batches"]) == 1
    assert tables["nodes"][0]["head_seq"] == 1
    response = fake.push(client, batch)  # the node sends it again: a fresh pool checks it
    assert response.status_code == 200 and open_reply(app, response)["accepted"] == 1
    stored = dump(app)["events"]
    assert [e["body"].encode() for e in stored] == [canonical_json(e) for e in fake.events]
