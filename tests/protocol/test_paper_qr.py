"""The signed paper QR (protocol/paper_qr.py): compact, genuine, superseded, forged, garbled."""
from __future__ import annotations

from datetime import datetime

import segno

from protocol.keys import generate
from protocol.paper_qr import FORGED, GENUINE, INVALID, SUPERSEDED, UNKNOWN_ISSUER, PaperQR, decode, encode, verify

QR = PaperQR(document=1, dossier="000.00.06.H56-260105-0001", procedure="1.001193", applicant="0012******67",
             issuer="000.00.06.H56", issued_at=datetime(2026, 1, 5, 9, 0), until=datetime(2026, 1, 5, 16, 30))


def test_a_signed_qr_round_trips_and_fits_a_small_alphanumeric_qr():
    key = generate()
    text = encode(QR, key)
    assert text.startswith("MC1:") and len(text) < 260
    qr, _body, _sig = decode(text)
    assert qr == QR and qr.document_name == "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
    symbol = segno.make(text, error="m", micro=False)
    assert symbol.mode == "alphanumeric" and symbol.version <= 10  # 57 modules: 0.35 mm each at 2 cm


def test_verification_tells_genuine_superseded_forged_and_unknown():
    key, other = generate(), generate()
    text = encode(QR, key)
    keys = {"000.00.06.H56": [other.public_key(), key.public_key()]}
    assert verify(text, keys.get, lambda code: 0).outcome == GENUINE
    assert verify(text, keys.get, lambda code: None).outcome == GENUINE  # verifier without the dossier
    assert verify(text, keys.get, lambda code: 1).outcome == SUPERSEDED
    assert verify(encode(QR, other), {"000.00.06.H56": [key.public_key()]}.get, lambda c: 0).outcome == FORGED
    assert verify(text, {}.get, lambda code: 0).outcome == UNKNOWN_ISSUER


def test_an_altered_byte_is_forged_and_garbage_is_invalid():
    key = generate()
    text = encode(QR, key)
    keys = {"000.00.06.H56": [key.public_key()]}
    # change the appointment time inside the signed body (a character of the base32 text)
    i = len("MC1:") + 12
    altered = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
    assert verify(altered, keys.get, lambda c: 0).outcome == FORGED
    for garbage in ("", "hello", "MC1:", "MC1:!!!!", "MC1:" + "A" * 40, text[:-20]):
        assert verify(garbage, keys.get, lambda c: 0).outcome in (INVALID, FORGED), garbage
