"""The store: one transaction per change (row + chained event), codes, illegal transitions."""
import threading
from datetime import datetime

import pytest

from appshell.sqlite import connect
from domain.statuses import Status
from domain.workflow import WorkflowError
from node import events, store
from protocol.events import event_hash
from tests.conftest import AGENCY, APPLICANT, receive


def counts(conn):
    return (conn.execute("SELECT count(*) FROM dossiers").fetchone()[0],
            conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_intake_saves_the_dossier_and_exactly_one_chained_event(ctx):
    state = receive(ctx)
    conn = ctx().conn
    assert state["code"] == f"{AGENCY}-260105-0001"
    assert state["status"] == Status.RECEIVED and state["due_at"] == "2026-01-05T17:00:00"
    assert state["register_no"] == 1  # the first entry in this desk's register this year
    log = events.read(conn)
    assert [e["type"] for e in log] == ["dossier.received"]
    assert log[0]["dossier"] == state["code"] and log[0]["seq"] == 1
    assert events.verify_all(conn).seq == 1


def test_codes_restart_every_day_and_the_register_number_runs_all_year(ctx, clock):
    first = receive(ctx)
    second = receive(ctx)
    clock.set(datetime(2026, 1, 6, 8, 0))
    third = receive(ctx)
    assert [first["code"][-11:], second["code"][-11:], third["code"][-11:]] == \
        ["260105-0001", "260105-0002", "260106-0001"]
    assert [first["register_no"], second["register_no"], third["register_no"]] == [1, 2, 3]


def test_codes_are_unique_under_eight_concurrent_intakes(app, ctx, clock):
    results, errors = [], []
    barrier = threading.Barrier(8)

    def counter(i):
        try:
            c = ctx(actor=f"clerk{i}")
            barrier.wait()
            for _ in range(5):
                results.append(receive(lambda actor=None: c)["code"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=counter, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40 and len(set(results)) == 40
    assert sorted(int(c[-4:]) for c in results) == list(range(1, 41))
    conn = connect(app.config["DATABASE"])
    assert events.verify_all(conn).seq == 40


def test_a_refused_intake_saves_nothing_and_burns_no_code(ctx):
    conn = ctx().conn
    bad = dict(APPLICANT, id_number="12345", phone="123")
    with pytest.raises(WorkflowError) as info:
        receive(ctx, applicant=bad)
    assert {e.field for e in info.value.errors} == {"id_number", "phone"}
    assert counts(conn) == (0, 0)
    with pytest.raises(WorkflowError):
        receive(ctx, procedure_code="NO-SUCH")
    assert receive(ctx)["code"].endswith("-0001")


ILLEGAL_FROM_RECEIVED = ["supplement", "supplement_received", "fee", "fee_paid", "resolve", "return",
                         "stop", "accept", "refuse", "hand_off", "hand_back"]


@pytest.mark.parametrize("action", ILLEGAL_FROM_RECEIVED)
def test_refuses_an_illegal_action_and_changes_nothing(ctx, action):
    state = receive(ctx)
    conn = ctx().conn
    before = (store.get(conn, state["code"]), counts(conn))
    params = {"items": "x", "reason": "x", "reasons": "x", "to_unit": "x", "days": 1}
    with pytest.raises(WorkflowError):
        store.act(ctx(), state["code"], action, params)
    assert (store.get(conn, state["code"]), counts(conn)) == before


def test_refuses_transition_from_returned(ctx):
    code = receive(ctx)["code"]
    for action in ("start", "resolve", "return"):
        store.act(ctx(), code, action, {})
    for action in ("start", "resolve", "return", "withdraw", "supplement", "assign", "extend"):
        with pytest.raises(WorkflowError):
            store.act(ctx(), code, action, {"reason": "x", "items": "x", "handler": "x", "days": 1})


def test_every_change_appends_exactly_one_event_and_the_chain_verifies(ctx, clock):
    code = receive(ctx)["code"]
    conn = ctx().conn
    steps = [("start", {"handler": "hung"}), ("assign", {"handler": "lan"}),
             ("supplement", {"items": "Bản sao sổ hộ khẩu", "reason": "Thiếu giấy tờ"}),
             ("supplement_received", {}), ("fee", {"amount": "50000"}), ("fee_paid", {}),
             ("extend", {"days": 2, "reason": "Chờ xác minh"}),
             ("hand_off", {"to_unit": "Văn phòng đăng ký đất đai"}), ("hand_back", {}),
             ("resolve", {"result_note": "Giấy khai sinh"}), ("return", {"rating": "5"})]
    for n, (action, params) in enumerate(steps, start=2):
        clock.advance(minutes=10)
        state = store.act(ctx(), code, action, params)
        log = events.for_dossier(conn, code)
        assert len(log) == n, action
        assert log[-1]["seq"] == n and log[-1]["actor"] == "lan"
        assert log[-1]["prev"] == event_hash(log[-2])
    assert state["status"] == Status.RETURNED and state["rating"] == 5
    assert events.verify_all(conn).seq == len(steps) + 1


def test_replaying_the_events_rebuilds_the_stored_row(ctx, clock):
    from domain.dossier import apply_event
    code = receive(ctx)["code"]
    for action in ("start", "resolve", "return"):
        clock.advance(hours=1)
        store.act(ctx(), code, action, {"rating": "4"})
    conn = ctx().conn
    replayed = None
    for event in events.for_dossier(conn, code):
        replayed = apply_event(replayed, event)
    assert replayed == store.get(conn, code)


def test_supplement_request_pauses_the_clock_and_its_return_moves_the_due_time(ctx, clock):
    code = receive(ctx, procedure_code="1.000894")["code"]  # marriage registration: 5 working days
    conn = ctx().conn
    assert store.get(conn, code)["due_at"] == "2026-01-10T09:00:00"  # Sat 10 Jan 2026 is worked
    store.act(ctx(), code, "start", {})
    store.act(ctx(), code, "supplement", {"items": "Giấy xác nhận", "reason": "Thiếu"})
    clock.set(datetime(2026, 1, 6, 9, 0))  # waited one full working day (Mon 09:00 -> Tue 09:00)
    state = store.act(ctx(), code, "supplement_received", {})
    assert state["due_at"] == "2026-01-12T09:00:00"
    assert state["supplements"][0]["returned_at"] == "2026-01-06T09:00:00"
    assert state["supplement_count"] == 1


def test_extension_is_refused_once_the_due_time_has_passed(ctx, clock):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "start", {})
    clock.set(datetime(2026, 1, 5, 17, 30))
    with pytest.raises(WorkflowError) as info:
        store.act(ctx(), code, "extend", {"days": 1, "reason": "Chậm"})
    assert "trước thời hạn" in info.value.message


def test_a_dossier_cannot_be_resolved_while_handed_off(ctx):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "start", {})
    store.act(ctx(), code, "hand_off", {"to_unit": "UBND tỉnh"})
    with pytest.raises(WorkflowError):
        store.act(ctx(), code, "resolve", {})
    state = store.act(ctx(), code, "hand_back", {})
    assert state["handoffs"][0]["returned_at"] and state["status"] == Status.PROCESSING


def test_withdrawal_then_stop(ctx):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "withdraw", {"reason": "Công dân đổi ý"})
    state = store.act(ctx(), code, "stop", {})
    assert state["status"] == Status.STOPPED and state["stop"]["reason"]


def test_online_registration_is_accepted_or_refused(ctx, clock):
    from appshell.sqlite import write_tx
    from domain import workflow
    from node import reference
    c = ctx()
    proc = reference.procedure(c.conn, "1.001193")
    code = f"{AGENCY}-260105-0900"
    change = workflow.receive(procedure=proc, applicant=APPLICANT, documents=[{"name": "Tờ khai"}],
                              channel="online", return_method="post", code=code, agency=AGENCY,
                              now=clock.now, calendar=c.calendar_cache.get(c.conn), catalogue_version=1,
                              actor="portal", register_no=900, online=True)
    with write_tx(c.conn):
        store._write(c.conn, c, None, change, code)
    assert store.get(c.conn, code)["status"] == Status.REGISTERED_ONLINE
    state = store.act(ctx(), f"{AGENCY}-260105-0900", "accept", {})
    assert state["status"] == Status.RECEIVED and state["due_at"] == "2026-01-05T17:00:00"
    assert state["register_no"] == 1  # the first entry in this desk's register this year


def test_a_dossier_handed_up_cannot_be_changed_by_the_node_until_handed_back(ctx, clock):
    from domain import workflow
    from domain.dossier import apply_event
    from node import store
    code = receive(ctx, procedure_code="XA-DD-01")["code"]
    store.act(ctx(), code, "start", {})
    state = store.act(ctx(), code, "hand_up", {"to_unit": "UBND tỉnh"})
    assert state["holder"] == "central"
    with pytest.raises(store.NotHolder):
        store.act(ctx(), code, "resolve", {})
    clock.advance(days=1)
    change = workflow.hand_back_from_upper(state, {"outcome": "resolve", "result_note": "GCN"}, clock.now)
    event = {"type": change.type, "data": change.data, "at": "2026-01-06T09:00:00", "dossier": code}
    after = apply_event(state, event)
    assert after["holder"] == "node" and after["status"] == Status.RESOLVED
    assert after["handoffs"][-1]["returned_at"] and after["result_class"] in ("early", "on_time", "late")


def test_the_desk_never_hands_out_codes_reserved_for_online_dossiers(ctx):
    from domain.codes import DESK_MAX_PER_DAY
    conn = ctx().conn
    conn.execute("INSERT INTO counters(name, value) VALUES (?, ?)", (f"day:{AGENCY}:260105", DESK_MAX_PER_DAY))
    with pytest.raises(WorkflowError) as info:
        receive(ctx)
    assert "9000" in info.value.message
    assert counts(conn) == (0, 0)


def test_applying_an_event_never_changes_the_previous_state_or_keeps_a_link_to_the_event():
    from domain.dossier import apply_event
    from domain.workflow import iso
    created = {"type": "dossier.received", "at": "2026-01-05T09:00:00", "dossier": "X",
               "data": {"dossier": {f: None for f in __import__("domain.dossier", fromlist=["x"]).STATE_FIELDS}}}
    created["data"]["dossier"].update(code="X", status=4, handoffs=[], supplements=[])
    before = apply_event(None, created)
    snapshot = __import__("copy").deepcopy(before)
    change = {"type": "dossier.handed_off", "at": iso(datetime(2026, 1, 5, 10)), "dossier": "X",
              "data": {"set": {"handoffs": [{"to_unit": "A", "returned_at": None}]}, "note": ""}}
    after = apply_event(before, change)
    change["data"]["set"]["handoffs"][0]["to_unit"] = "tampered"
    assert before == snapshot
    assert after["handoffs"][0]["to_unit"] == "A"
