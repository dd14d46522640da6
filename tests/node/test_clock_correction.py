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
    from service.sqlite import connect
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
