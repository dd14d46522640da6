"""A wrong PC clock must not print a wrong legal time (issue 8 point 13).

Real node data folder; the PC clock is the test clock, central's verdict on it is what a signed
reply left in sync_state (node/sync.record_clock, the function the sync worker calls).
"""
from __future__ import annotations

import json
from datetime import timedelta

from domain.codes import parse_code
from node import sync_state
from node.clock import legal_time
from node.sync import record_clock
from tests.conftest import receive

TEN_YEARS = timedelta(days=3653)


def node_conn(app):
    from appshell.sqlite import connect
    return connect(app.config["DATABASE"])


def test_a_node_ten_years_fast_that_knows_its_offset_receives_with_centrals_time_and_the_receipt_says_so(
        app, ctx, clock, clerk):
    real = clock.now
    clock.set(real + TEN_YEARS)  # the PC clock runs ten years fast
    conn = node_conn(app)
    record_clock(conn, -round(TEN_YEARS.total_seconds()), warning_seconds=5 * 60)  # as central's reply said
    state = receive(ctx)
    assert parse_code(state["code"])[1] == real.date()
    assert state["received_at"] == real.isoformat()
    assert real.isoformat() < state["due_at"] < (real + timedelta(days=60)).isoformat()
    event = json.loads(conn.execute("SELECT body FROM events WHERE dossier = ?", (state["code"],)).fetchone()[0])
    assert event["at"] == real.isoformat()
    assert event["data"]["clock"]["pc_at"] == (real + TEN_YEARS).isoformat()
    assert event["data"]["clock"]["legal_at"] == real.isoformat()
    page = clerk.get(f"/bieu-mau/{state['code']}/01").get_data(as_text=True)
    assert 'id="clock-correction"' in page and "theo giờ máy chủ cấp trên" in page
    assert str(real.year + 10) not in page.split('id="clock-correction"')[0]
    # later changes carry the corrected time too
    from node import store
    changed = store.act(ctx(), state["code"], "start", {"handler": "hung"})
    assert changed["updated_at"] == real.isoformat()
    conn.close()


def test_a_small_offset_within_the_warning_threshold_keeps_the_pc_clock(app, ctx, clock):
    conn = node_conn(app)
    record_clock(conn, 120, warning_seconds=5 * 60)
    state = receive(ctx)
    assert state["received_at"] == clock.now.isoformat() and "clock_correction" not in state
    assert legal_time(conn, clock.now).corrected is False
    record_clock(conn, 3600, warning_seconds=5 * 60)
    assert legal_time(conn, clock.now).now == clock.now + timedelta(hours=1)
    record_clock(conn, 30, warning_seconds=5 * 60)  # the clock was set right: no more correction
    assert legal_time(conn, clock.now).corrected is False
    conn.close()


def test_a_node_that_never_synced_uses_the_pc_clock_and_the_status_bar_says_why(app, ctx, clock, clerk):
    conn = node_conn(app)
    sync_state.put(conn, central_public_key="x", central_url="http://127.0.0.1:9", node_id="000.00.06.H56")
    state = receive(ctx)
    assert state["received_at"] == clock.now.isoformat()
    page = clerk.get("/").get_data(as_text=True)
    assert "chưa đồng bộ được với cấp trên lần nào" in page and "đồng hồ máy tính" in page
    conn.close()


def _codes_in(page: str, section: str) -> str:
    """The HTML of one home-page section (id="home-<kind>")."""
    return page.split(f'id="home-{section}"', 1)[1].split("</section>", 1)[0]


def test_a_node_ten_years_fast_that_knows_its_offset_lists_todays_dossier_under_today_and_overdue_by_the_corrected_time(
        app, clock, clerk):
    from tests.node.test_web import intake_form
    real = clock.now
    clock.set(real + TEN_YEARS)
    conn = node_conn(app)
    record_clock(conn, -round(TEN_YEARS.total_seconds()), warning_seconds=5 * 60)
    r = clerk.post("/tiep-nhan", data=intake_form())  # through the web: the request clock is the legal time
    assert r.status_code == 302
    code, received_at, due_at, body = conn.execute(
        "SELECT d.code, d.received_at, d.due_at, e.body FROM dossiers d JOIN events e ON e.dossier = d.code").fetchone()
    assert received_at == real.isoformat()  # corrected once, not twice (not ten years slow either)
    clock_record = json.loads(body)["data"]["clock"]
    assert clock_record["pc_at"] == (real + TEN_YEARS).isoformat() and clock_record["legal_at"] == real.isoformat()

    home = clerk.get("/").get_data(as_text=True)
    assert code in _codes_in(home, "hom-nay")
    assert code not in _codes_in(home, "qua-han")
    assert code in clerk.get("/danh-sach/hom-nay").get_data(as_text=True)
    assert code not in clerk.get("/danh-sach/qua-han").get_data(as_text=True)

    clock.advance(days=60)  # sixty days on, by either clock: now the dossier is late
    assert due_at < (real + timedelta(days=60)).isoformat()
    assert code in _codes_in(clerk.get("/").get_data(as_text=True), "qua-han")
    assert code in clerk.get("/danh-sach/qua-han").get_data(as_text=True)
    assert code not in clerk.get("/danh-sach/hom-nay").get_data(as_text=True)

    clock.set(real)  # the PC clock is set right; central's next reply clears the correction
    record_clock(conn, 0, warning_seconds=5 * 60)
    assert legal_time(conn, clock.now).corrected is False
    home = clerk.get("/").get_data(as_text=True)
    assert code in _codes_in(home, "hom-nay") and code not in _codes_in(home, "qua-han")
    assert code in clerk.get("/danh-sach/hom-nay").get_data(as_text=True)
    conn.close()


def test_the_status_bar_says_how_long_ago_the_last_sync_was_in_hours_and_minutes_by_the_pcs_own_clock(
        app, clock, clerk):
    conn = node_conn(app)
    sync_state.put(conn, central_public_key="x", central_url="http://127.0.0.1:9", node_id="000.00.06.H56",
                   last_success_at=(clock.now - timedelta(hours=2, minutes=15)).isoformat())
    assert "2 giờ 15 phút trước" in clerk.get("/trang-thai").get_data(as_text=True)
    sync_state.put(conn, last_success_at=(clock.now - timedelta(days=3, hours=4)).isoformat())
    assert "3 ngày 4 giờ trước" in clerk.get("/trang-thai").get_data(as_text=True)
    # a correction moves the legal time, not the PC's: the sync worker's stamps are the PC's own
    record_clock(conn, -round(TEN_YEARS.total_seconds()), warning_seconds=5 * 60)
    sync_state.put(conn, last_success_at=(clock.now - timedelta(minutes=5)).isoformat())
    assert "5 phút trước" in clerk.get("/trang-thai").get_data(as_text=True)
    conn.close()
