"""Digitisation at the node: normalising, the encrypted blob store, events, pages, API, reuse, register."""
from __future__ import annotations

import io
import json
import os
import stat

import pytest
from PIL import Image

from appshell.sqlite import connect
from domain import digitisation
from domain.dossier import apply_event
from node import documents, events, scans, store
from node.blobs import BlobError, BlobStore, known_hashes
from tests.conftest import APPLICANT
from tests.node import document_samples as samples

MB = 2**20
SETTINGS = {"document_max_file_mb": 25, "document_max_dossier_mb": 60}


# --- normalising ----------------------------------------------------------------------------------

def test_a_jpeg_named_pdf_is_judged_a_jpeg_and_stored_as_one():
    data = samples.small_jpeg()
    out = scans.normalise([data], 25 * MB)  # the name never reaches the normaliser: only the bytes do
    assert out.mime == "image/jpeg" and out.original_type == "jpeg"
    assert Image.open(io.BytesIO(out.data)).format == "JPEG"


def test_a_jpeg_pdf_polyglot_is_judged_by_its_first_bytes_and_loses_the_pdf_with_its_script():
    poly = samples.polyglot_jpeg_pdf()
    assert b"%PDF" in poly and b"JavaScript" in poly
    out = scans.normalise([poly], 25 * MB)
    assert out.mime == "image/jpeg"
    assert b"%PDF" not in out.data and b"JavaScript" not in out.data


def test_files_that_are_no_image_or_pdf_are_refused_in_vietnamese_whatever_their_name():
    for data in (b"MZ\x90\x00 a windows program", b"<html><script>alert(1)</script>", b"PK\x03\x04zip",
                 b"   %PDF-1.7 leading junk"):
        with pytest.raises(scans.ScanRefused) as err:
            scans.normalise([data], 25 * MB)
        assert err.value.code == "unsupported_type" and "không dựa vào tên tệp" in err.value.message


def test_pdfs_with_javascript_or_encryption_are_refused_saying_which():
    with pytest.raises(scans.ScanRefused) as js:
        scans.normalise([samples.simple_pdf(javascript=True)], 25 * MB)
    assert js.value.code == "pdf_javascript" and "JavaScript" in js.value.message
    with pytest.raises(scans.ScanRefused) as enc:
        scans.normalise([samples.encrypted_pdf()], 25 * MB)
    assert enc.value.code == "pdf_encrypted" and "mã hóa" in enc.value.message


def test_a_clean_pdf_is_kept_as_sent_with_its_page_count():
    pdf = samples.simple_pdf(pages=3)
    out = scans.normalise([pdf], 25 * MB)
    assert out.data == pdf and out.pages == 3 and out.mime == "application/pdf"


def test_a_12_megapixel_phone_photo_is_stored_at_most_a_tenth_of_its_bytes_at_a4_200_dpi_without_exif():
    photo = samples.phone_photo()
    assert Image.open(io.BytesIO(photo)).size == (4000, 3000)
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # the original has GPS
    out = scans.normalise([photo], 25 * MB)
    stored = Image.open(io.BytesIO(out.data))
    assert max(stored.size) == scans.MAX_SIDE == 2339
    assert stored.mode == "L"  # a black-and-white page becomes grayscale
    assert len(out.data) <= len(photo) // 10
    assert not stored.getexif() and "icc_profile" not in stored.info and "exif" not in stored.info
    assert samples.NAME.encode("utf-8") not in out.data


def test_a_page_with_a_red_stamp_stays_in_colour():
    out = scans.normalise([samples.phone_photo(colour=True, width=2000, height=1500)], 25 * MB)
    assert Image.open(io.BytesIO(out.data)).mode == "RGB"


def test_several_images_of_one_component_become_one_pdf_with_a_page_each():
    out = scans.normalise([samples.small_jpeg(1), samples.small_jpeg(2), samples.flatbed_scan(dpi=100)], 25 * MB)
    assert out.mime == "application/pdf" and out.pages == 3
    import pikepdf
    assert len(pikepdf.open(io.BytesIO(out.data)).pages) == 3


def test_a_file_over_the_per_file_cap_is_refused():
    with pytest.raises(scans.ScanRefused) as err:
        scans.normalise([samples.small_jpeg()], 10_000)
    assert err.value.code == "too_large"


# --- the blob store ---------------------------------------------------------------------------------

def test_blobs_are_named_by_the_hash_of_the_stored_bytes_and_encrypted_on_disk(tmp_path):
    blobs = BlobStore(tmp_path)
    page = scans.normalise([samples.phone_photo(width=2000, height=1500)], 25 * MB).data
    pdf = samples.simple_pdf(pages=1) + ("Người nộp: " + samples.NAME).encode("utf-8")
    for data in (page, pdf):
        digest = blobs.put(data)
        raw = blobs.path(digest).read_bytes()
        import hashlib
        assert digest == hashlib.sha256(data).hexdigest()
        assert not raw.startswith(b"\xff\xd8") and b"JFIF" not in raw and b"%PDF" not in raw
        assert samples.NAME.encode("utf-8") not in raw
        assert blobs.get(digest) == data
    assert stat.S_IMODE(os.stat(tmp_path / "blobs.key").st_mode) == 0o600


def test_a_damaged_or_foreign_blob_is_never_returned(tmp_path):
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"%PDF-1.4 some page")
    raw = bytearray(blobs.path(digest).read_bytes())
    raw[-3] ^= 1
    blobs.path(digest).write_bytes(bytes(raw))
    with pytest.raises(BlobError, match="authentication tag"):
        blobs.get(digest)
    other = BlobStore(tmp_path / "other")
    other.root.mkdir(parents=True)
    digest2 = other.put(b"another page")
    (blobs.root / digest2[:2]).mkdir(exist_ok=True)
    blobs.path(digest2).write_bytes(other.path(digest2).read_bytes())
    with pytest.raises(BlobError, match="another data key"):
        blobs.get(digest2)


# --- events and the reducer ----------------------------------------------------------------------

def _dossier(ctx):
    from node import store as st
    return st.receive(ctx(), procedure_code="1.001193", applicant=APPLICANT,
                      documents=[{"name": "Tờ khai", "kind": "original", "count": 1},
                                 {"name": "Căn cước công dân", "kind": "copy", "count": 1}],
                      channel="in_person", return_method="desk")


def test_attaching_writes_metadata_only_events_that_replay_to_the_same_document_list(app, ctx):
    state = _dossier(ctx)
    blobs = BlobStore(app.config["DATA_DIR"])
    a = documents.attach(ctx(), blobs, SETTINGS, state["code"], "0", [samples.small_jpeg()])
    b = documents.attach(ctx(), blobs, SETTINGS, state["code"], "Căn cước công dân", [samples.simple_pdf(2)])
    documents.remove(ctx(), state["code"], b["id"], "Quét nhầm mặt sau")
    conn = connect(app.config["DATABASE"])
    log = events.for_dossier(conn, state["code"])
    added = [e for e in log if e["type"] == "attachment.added"]
    assert [e["data"]["attachment"]["pages"] for e in added] == [1, 2]
    assert set(added[0]["data"]["attachment"]) >= {"hash", "size", "mime", "component", "pages"}
    body = json.dumps(log)
    assert "JFIF" not in body and "%PDF" not in body and len(body) < 6000  # no bytes in the log
    removed = [e for e in log if e["type"] == "attachment.removed"]
    assert removed[0]["data"]["reason"] == "Quét nhầm mặt sau"
    replayed = None
    for e in log:
        replayed = apply_event(replayed, e)
    assert replayed == store.get(conn, state["code"])
    comps = digitisation.components(replayed)
    assert [c["status"] for c in comps] == ["digitised", "not_digitised"]
    assert a["hash"] in known_hashes(conn)


def test_exemptions_are_the_four_of_circular_03_and_count_as_digitised(app, ctx):
    state = _dossier(ctx)
    blobs = BlobStore(app.config["DATA_DIR"])
    documents.attach(ctx(), blobs, SETTINGS, state["code"], "0", [samples.small_jpeg()])
    with pytest.raises(documents.DocumentRefused):
        documents.mark(ctx(), state["code"], "1", "lazy")
    new = documents.mark(ctx(), state["code"], "1", "comparison")
    assert [c["status"] for c in digitisation.components(new)] == ["digitised", "exempt"]
    assert digitisation.fully_digitised(new)
    assert set(digitisation.EXEMPTIONS) == {"online", "comparison", "verification", "confidential"}


def test_the_reducer_refuses_attachment_events_a_node_should_never_send(app, ctx):
    state = _dossier(ctx)
    good = {"id": "x1", "component": 0, "hash": "a" * 64, "size": 10, "mime": "image/jpeg", "pages": 1,
            "original_size": 20, "source": "file", "reused_from": None, "at": "2026-01-05T09:00:00", "by": "lan"}
    event = {"type": "attachment.added", "dossier": state["code"], "at": "2026-01-05T09:00:00"}
    from domain.dossier import ReplayError
    for bad in ({"hash": "../../etc/passwd"}, {"component": 7}, {"size": -1}, {"mime": "text/html"}):
        with pytest.raises(ReplayError):
            apply_event(state, dict(event, data={"attachment": dict(good, **bad)}))
    assert apply_event(state, dict(event, data={"attachment": good}))["attachments"][0]["hash"] == "a" * 64


def test_a_dossier_over_its_document_cap_is_refused_and_nothing_is_recorded(app, ctx):
    state = _dossier(ctx)
    blobs = BlobStore(app.config["DATA_DIR"])
    tiny = {"document_max_file_mb": 25, "document_max_dossier_mb": 1}
    documents.attach(ctx(), blobs, tiny, state["code"], "0", [samples.simple_pdf(padding=600_000)])
    conn = connect(app.config["DATABASE"])
    before = (len(events.for_dossier(conn, state["code"])), conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
    with pytest.raises(documents.DocumentRefused, match="dung lượng"):
        documents.attach(ctx(), blobs, tiny, state["code"], "1", [samples.simple_pdf(padding=600_000)])
    after = (len(events.for_dossier(conn, state["code"])), conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
    assert after == before
    assert len(digitisation.active(store.get(conn, state["code"]))) == 1
    assert set(blobs.hashes_on_disk()) == known_hashes(conn)  # the refused file was never written


def test_a_photo_taken_sideways_is_stored_upright_from_its_exif_orientation():
    img = Image.open(io.BytesIO(samples.phone_photo(width=3000, height=2250)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    stored = Image.open(io.BytesIO(scans.normalise([out.getvalue()], 25 * MB).data))
    assert stored.size[1] > stored.size[0] and max(stored.size) == scans.MAX_SIDE


def test_a_multi_page_tiff_from_a_scanner_becomes_a_pdf_with_every_page():
    pages = [Image.open(io.BytesIO(samples.small_jpeg(seed))) for seed in (1, 2, 3)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    stored = scans.normalise([out.getvalue()], 25 * MB)
    assert stored.mime == "application/pdf" and stored.pages == 3 and stored.original_type == "tiff"


def test_pruning_old_backups_also_drops_the_blobs_only_they_named(app, ctx, clock, tmp_path):
    import time as _time

    from node.backup import make_backup
    state = _dossier(ctx)
    blobs = BlobStore(app.config["DATA_DIR"])
    kept = documents.attach(ctx(), blobs, SETTINGS, state["code"], "0", [samples.small_jpeg(1)])
    folder = tmp_path / "usb"
    folder.mkdir()
    settings = dict(app.config["MOTCUA"], backup_keep_daily=1, backup_keep_weekly=0)
    make_backup(app.config["DATA_DIR"], settings, to=folder, now=clock.now)
    stale = folder / "blobs" / "ab" / ("ab" + "0" * 62)  # named by no backup any more
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    old = _time.time() - 7200
    os.utime(stale, (old, old))
    for path in (folder / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    clock.advance(days=1)
    result = make_backup(app.config["DATA_DIR"], settings, to=folder, now=clock.now)
    assert result.pruned  # yesterday's backup went, and with it the blob only it named
    assert not stale.exists()
    assert (folder / "blobs" / kept["hash"][:2] / kept["hash"]).is_file()


def test_one_blobs_own_key_opens_that_file_and_no_other_so_it_can_travel_as_it_lies(tmp_path):
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from node.blobs import HEADER
    blobs = BlobStore(tmp_path)
    a, b = blobs.put(b"%PDF-1.4 page one"), blobs.put(b"%PDF-1.4 page two")
    key = blobs.blob_key(a)
    raw_a, raw_b = blobs.path(a).read_bytes(), blobs.path(b).read_bytes()
    aad = b"motcua-blob:" + a.encode()
    assert AESGCM(key).decrypt(raw_a[72:HEADER], raw_a[HEADER:], aad) == b"%PDF-1.4 page one"
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(raw_b[72:HEADER], raw_b[HEADER:], b"motcua-blob:" + b.encode())
