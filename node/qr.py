"""QR codes for printed forms: inline SVG made by segno, no images, no network."""
from __future__ import annotations

import contextlib
import io
from urllib.parse import quote

import segno


def lookup_url(public_url: str, code: str) -> str:
    """The citizen lookup page with the dossier code filled in."""
    return f"{(public_url or '').rstrip('/')}/tra-cuu?ma={quote(code, safe='.-')}"


def qr_svg(data: str, title: str = "Mã QR tra cứu hồ sơ") -> str:
    """An inline ``<svg>`` element (no XML declaration) encoding ``data``.

    The SVG carries a viewBox and no width/height, so CSS sizes it (``.qr svg``);
    it uses presentation attributes only, never ``style=``, so a strict CSP allows it.
    Error correction M survives a smudged or creased receipt.
    """
    code = segno.make(data, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True,
              border=2, svgclass="qr-code", lineclass=None, dark="#000", light="#fff",
              title=title or None, encoding="utf-8")
    return out.getvalue().decode("utf-8")


# --- the signed QR of Circular 01/2023 on every paper (protocol/paper_qr.py) ---------------------

def node_key(data_dir):
    """The node's Ed25519 key (the one it enrols with); created on first use, owner-only."""
    from pathlib import Path

    from protocol.keys import generate, load_private, save_private

    from .sync import KEY_NAME
    path = Path(data_dir) / KEY_NAME
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another request created it first
            save_private(generate(), path)
    return load_private(path)


def revision(state: dict | None) -> int:
    """How many corrections a dossier has had: a paper printed before the last one is superseded."""
    return len((state or {}).get("corrections") or [])


def paper_text(key, *, document: int, state: dict | None, issuer: str, issued_at, until=None) -> str:
    from domain.citizen import mask_id_number
    from protocol.paper_qr import PaperQR, encode
    applicant = (state or {}).get("applicant") or {}
    qr = PaperQR(document=document, dossier=(state or {}).get("code") or "*register*",
                 procedure=(state or {}).get("procedure_code") or "",
                 applicant=mask_id_number(applicant.get("id_number")), issuer=issuer,
                 issued_at=issued_at, until=until, revision=revision(state))
    return encode(qr, key)


def node_verifier(conn, agency_code: str, key):
    """(public_keys_for, current_revision_for) for protocol.paper_qr.verify on this node."""
    import json
    own = [key.public_key()]

    def keys_for(issuer):
        return own if issuer == agency_code else []

    def revision_for(code):
        row = conn.execute("SELECT doc FROM dossiers WHERE code = ?", (code,)).fetchone()
        return revision(json.loads(row["doc"])) if row else None
    return keys_for, revision_for
