"""Reading a paper's QR from a photo (phone or webcam picture uploaded to /xac-thuc), offline.

Pillow opens the image (bounded in size: a photo is untrusted input), zxing-cpp finds the QR codes.
The caller verifies the text with protocol.paper_qr; nothing here trusts what it reads.
"""
from __future__ import annotations

import io

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40 MP photo at most; Pillow refuses larger ones (decompression bombs)
WORK_SIZE = 2400         # decode at most this many pixels on the long side


class PhotoError(ValueError):
    """Not an image we can read (English message; the page says it in Vietnamese)."""


def qr_texts(data: bytes) -> list[str]:
    """Every QR text found in the photo, ours (MC1:...) first."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError
    if not data or len(data) > MAX_BYTES:
        raise PhotoError("empty or too large")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise PhotoError(f"not a readable image: {type(exc).__name__}") from None
    image = image.convert("L")
    if max(image.size) > WORK_SIZE:
        image.thumbnail((WORK_SIZE, WORK_SIZE))
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    texts = [r.text for r in zxingcpp.read_barcodes(image, formats=qr_only) if r.text]
    return sorted(texts, key=lambda t: not t.upper().startswith("MC1:"))
