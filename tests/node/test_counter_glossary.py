"""Issue 12.10: one glossary (docs/GLOSSARY.md) for both apps; its banned words appear in neither."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("node/templates", "node/views", "central/templates", "central/views", "domain", "protocol")


def banned_words() -> list[str]:
    words = []
    for line in (ROOT / "docs/GLOSSARY.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2] and cells[2] != "Không dùng" and not set(cells[2]) <= {"-"}:
            words += [w.strip() for w in cells[2].split(",") if w.strip() and w.strip() != "login names"]
    return words


def test_the_glossary_lists_words_to_avoid():
    assert {"trễ hạn", "dị thường", "biên nhận"} <= set(banned_words())


def test_neither_app_uses_a_word_the_glossary_rules_out():
    found = []
    words = banned_words()
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".html") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8").lower()
            for word in words:
                if re.search(r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)", text):
                    found.append(f"{path.relative_to(ROOT)}: {word}")
    assert found == []


def test_durations_are_said_in_hours_and_minutes_and_the_dossier_page_shows_time_left(ctx, clerk, clock):
    from node.views.filters import hours_minutes
    from tests.conftest import receive
    assert hours_minutes(5400) == "1 giờ 30 phút" and hours_minutes(600) == "10 phút"
    code = receive(ctx)["code"]  # same day: due 17:00, now 09:00
    clock.advance(minutes=35)
    assert "(còn 7 giờ 25 phút)" in clerk.get(f"/ho-so/{code}").get_data(as_text=True)


def test_pages_carry_a_favicon_and_the_status_bar_can_be_fetched_alone(clerk):
    home = clerk.get("/").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in home and 'data-status-url="/trang-thai"' in home
    assert clerk.get("/static/favicon.svg").status_code == 200
    bar = clerk.get("/trang-thai")
    assert bar.status_code == 200 and 'id="sync-bar"' in bar.get_data(as_text=True)


def test_date_boxes_are_text_in_dd_mm_yyyy_whatever_the_browsers_locale(clerk):
    for url in ("/bao-cao", "/bieu-mau/so-theo-doi", "/danh-sach", "/tiep-nhan"):
        page = clerk.get(url).get_data(as_text=True)
        assert 'type="date"' not in page, url
    assert 'name="from" value="01/01/2026"' in clerk.get("/bao-cao").get_data(as_text=True)
    jan = clerk.get("/bao-cao", query_string={"from": "01/01/2026", "to": "31/01/2026"})
    assert jan.status_code == 200 and 'name="to" value="31/01/2026"' in jan.get_data(as_text=True)
