"""The signed QR printed top-left on every paper the desk issues (Circular 01/2023/TT-VPCP).

What it carries (the circular's list): dossier code, procedure code, the applicant's identifier,
the document's name (as a form number: "01" = Giấy tiếp nhận ..., see ``DOCUMENTS``), the issuing
system (the commune's agency code, which is also its node id at central), the time of issue, and the
appointment time on a receipt or the validity on a result. It adds the dossier's revision (how many
corrections it has had) so that a copy printed before a correction verifies as *superseded*.

The applicant's identifier is MASKED (``0012******67``): we could not confirm that the circular
requires the full number on a public paper, and a QR anyone can read must not leak it. The mask
still lets a clerk check the paper against the citizen's card.

Encoding (compact enough to scan from a 2 cm print): a short binary record, signed with the node's
Ed25519 key (64 bytes), then RFC 4648 base32 without padding, prefixed ``MC1:`` — every character is in
the QR alphanumeric set, so the whole text costs 5.5 bits a character (about 230 characters, a
version-10 QR at level M).

Verification is offline: the verifier needs only the issuing node's public key (the node has its own;
central has every node's registered keys) and, to tell *superseded*, the dossier's current revision.
One code path for the node's ``verify-qr``, the node's ``/xac-thuc`` and central's ``/xac-thuc``.
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "MC1:"
VERSION = 1
EPOCH = datetime(2020, 1, 1)  # times are local (Vietnam) minutes since this instant
SIGNATURE_BYTES = 64
MAX_TEXT = 600

# The document's name, by the number printed in the QR (forms of Circular 03/2025, annex I).
DOCUMENTS = {
    1: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    2: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    3: "Phiếu từ chối tiếp nhận, giải quyết hồ sơ",
    4: "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
    5: "Thông báo dừng giải quyết hồ sơ",
    6: "Phiếu kiểm soát quá trình giải quyết hồ sơ",
    7: "Sổ theo dõi hồ sơ (trích)",
    9: "Kết quả giải quyết thủ tục hành chính",
}
ISSUING_SYSTEM = "motcua"


class NotAPaperQR(ValueError):
    """The text is not one of our QR payloads, or it is cut or garbled (English message)."""


@dataclass(frozen=True)
class PaperQR:
    document: int          # key of DOCUMENTS
    dossier: str           # dossier code ("*register*" for a register extract)
    procedure: str
    applicant: str         # masked identifier
    issuer: str            # agency code = node id
    issued_at: datetime
    until: datetime | None  # appointment (receipt) or validity (result)
    revision: int = 0

    @property
    def document_name(self) -> str:
        return DOCUMENTS.get(self.document, f"Văn bản số {self.document}")


def _minutes(dt: datetime | None) -> int:
    if dt is None:
        return 0
    return max(0, int((dt.replace(tzinfo=None) - EPOCH).total_seconds() // 60))


def _from_minutes(value: int) -> datetime | None:
    return EPOCH + timedelta(minutes=value) if value else None


def _text(value: str) -> bytes:
    raw = (value or "").encode("utf-8")
    if len(raw) > 255:
        raise ValueError("QR field longer than 255 bytes")
    return bytes([len(raw)]) + raw


def _body(qr: PaperQR) -> bytes:
    head = struct.pack(">BBIIB", VERSION, qr.document, _minutes(qr.issued_at), _minutes(qr.until),
                       min(qr.revision, 255))
    return head + b"".join(_text(v) for v in (qr.dossier, qr.procedure, qr.applicant, qr.issuer))


def encode(qr: PaperQR, key: Ed25519PrivateKey) -> str:
    body = _body(qr)
    raw = body + key.sign(body)
    return PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")


def decode(text: str) -> tuple[PaperQR, bytes, bytes]:
    """(fields, signed bytes, signature); raise NotAPaperQR for anything else."""
    value = "".join((text or "").split()).upper()
    if len(value) > MAX_TEXT or not value.startswith(PREFIX):
        raise NotAPaperQR("not a motcua paper QR (it starts with MC1:)")
    data = value[len(PREFIX):]
    try:
        raw = base64.b32decode(data + "=" * (-len(data) % 8))
    except (ValueError, TypeError):
        raise NotAPaperQR("the QR text is garbled (not base32)") from None
    if len(raw) < 11 + 4 + SIGNATURE_BYTES:
        raise NotAPaperQR("the QR text is too short")
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    version, document, issued, until, revision = struct.unpack(">BBIIB", body[:11])
    if version != VERSION:
        raise NotAPaperQR(f"unknown QR version {version}")
    fields, at = [], 11
    for _ in range(4):
        if at >= len(body):
            raise NotAPaperQR("the QR text is cut")
        n = body[at]
        chunk = body[at + 1:at + 1 + n]
        if len(chunk) != n:
            raise NotAPaperQR("the QR text is cut")
        try:
            fields.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise NotAPaperQR("the QR text is garbled") from None
        at += 1 + n
    if at != len(body):
        raise NotAPaperQR("the QR text has trailing bytes")
    qr = PaperQR(document=document, dossier=fields[0], procedure=fields[1], applicant=fields[2],
                 issuer=fields[3], issued_at=_from_minutes(issued) or EPOCH, until=_from_minutes(until),
                 revision=revision)
    return qr, body, signature


GENUINE, SUPERSEDED, FORGED, UNKNOWN_ISSUER, INVALID = "genuine", "superseded", "forged", "unknown_issuer", "invalid"


@dataclass(frozen=True)
class Verdict:
    outcome: str            # one of the constants above
    qr: PaperQR | None
    current_revision: int | None = None
    detail: str = ""        # English, for the CLI


def verify(text: str, public_keys_for, current_revision_for) -> Verdict:
    """Check a QR's text offline.

    ``public_keys_for(issuer) -> list[Ed25519PublicKey]`` gives the issuer's keys (every key it ever
    registered: a paper outlives a key rotation). ``current_revision_for(dossier) -> int | None`` gives
    the dossier's revision now, or None when the verifier does not hold the dossier.
    """
    try:
        qr, body, signature = decode(text)
    except NotAPaperQR as exc:
        return Verdict(INVALID, None, detail=str(exc))
    keys = public_keys_for(qr.issuer) or []
    if not keys:
        return Verdict(UNKNOWN_ISSUER, qr, detail=f"no public key known for issuer {qr.issuer}")
    for key in keys:
        try:
            key.verify(signature, body)
            break
        except InvalidSignature:
            continue
    else:
        return Verdict(FORGED, qr, detail="the signature does not match: forged or altered")
    current = current_revision_for(qr.dossier)
    if current is not None and current > qr.revision:
        return Verdict(SUPERSEDED, qr, current, detail=f"superseded: the dossier has been corrected "
                                                       f"(revision {current}, this paper {qr.revision})")
    return Verdict(GENUINE, qr, current, detail="genuine")


def load_public_keys(b64_keys) -> list[Ed25519PublicKey]:
    out = []
    for text in b64_keys:
        try:
            out.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)))
        except (ValueError, TypeError):
            continue
    return out


# Vietnamese answers for the public /xac-thuc pages of node and central (same words on both).
HEADLINES = {
    GENUINE: "Văn bản hợp lệ",
    SUPERSEDED: "Văn bản đã được thay thế",
    FORGED: "Văn bản giả mạo hoặc đã bị sửa đổi",
    UNKNOWN_ISSUER: "Không xác định được đơn vị cấp",
    INVALID: "Không đọc được mã QR",
}
EXPLANATIONS = {
    GENUINE: "Chữ ký số trên mã QR khớp với khóa của đơn vị cấp.",
    SUPERSEDED: "Hồ sơ đã được đính chính sau khi in văn bản này; hãy dùng bản in lại mới nhất.",
    FORGED: "Chữ ký số không khớp: nội dung mã QR không phải do đơn vị ghi trong mã cấp, hoặc đã bị sửa.",
    UNKNOWN_ISSUER: "Máy này không có khóa công khai của đơn vị cấp; hãy xác thực tại trang của cấp trên.",
    INVALID: "Nội dung không phải mã QR văn bản của hệ thống một cửa, hoặc bị quét thiếu.",
}
