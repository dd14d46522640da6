"""QR codes for printed forms: inline SVG made by segno, no images, no network."""
from __future__ import annotations

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
