"""Realistic test pages made with Pillow: a phone photo of an A4 page, a flatbed scan, a polyglot."""
from __future__ import annotations

import functools
import io
import random

from PIL import Image, ImageDraw, ImageFilter

NAME = "Nguyễn Văn Dũng"


def _page(width: int, height: int, seed: int, colour: bool) -> Image.Image:
    rnd = random.Random(seed)
    paper = Image.new("RGB", (width, height), (236, 232, 220))
    draw = ImageDraw.Draw(paper)
    # lines of "text": dark strokes of random widths, as a printed form seen from above
    line_h = max(12, height // 70)
    y = height // 12
    while y < height - height // 12:
        x = width // 10
        while x < width - width // 10:
            w = rnd.randint(line_h, line_h * 5)
            draw.rectangle((x, y, x + w, y + line_h * 2 // 3), fill=(35, 35, 40))
            x += w + rnd.randint(line_h // 2, line_h)
        y += line_h * 2
    if colour:  # a red stamp
        r = width // 10
        draw.ellipse((width - 3 * r, height - 3 * r, width - r, height - r), outline=(200, 30, 30), width=r // 8)
    # uneven light, sensor noise and a little blur, as a phone camera gives
    light = Image.linear_gradient("L").resize((width, height)).point(lambda v: 200 + v // 5)
    paper = Image.composite(paper, Image.new("RGB", paper.size, (150, 145, 135)), light)
    noise = Image.effect_noise((width, height), 28).convert("RGB")
    paper = Image.blend(paper, noise, 0.18)
    return paper.filter(ImageFilter.GaussianBlur(0.6))


@functools.lru_cache(maxsize=8)  # about a second each at 12 MP: made once per test process for each size
def phone_photo(seed: int = 1, width: int = 4000, height: int = 3000, colour: bool = False) -> bytes:
    """A 12-MP JPEG (quality 92, EXIF with GPS) of a page, as a phone writes it."""
    img = _page(width, height, seed, colour)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = NAME  # a model field carrying a name, to prove metadata is dropped
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (21.0, 1.0, 2.0), "E", (105.0, 50.0, 3.0)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


@functools.lru_cache(maxsize=4)
def flatbed_scan(seed: int = 2, dpi: int = 300) -> bytes:
    """An A4 page from a flatbed scanner at ``dpi`` (PNG, as scanner software often writes)."""
    width, height = int(8.27 * dpi), int(11.69 * dpi)
    img = _page(width, height, seed, colour=False).convert("L")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def small_jpeg(seed: int = 3, size=(800, 1100)) -> bytes:
    out = io.BytesIO()
    _page(*size, seed, colour=False).save(out, "JPEG", quality=90)
    return out.getvalue()


def simple_pdf(pages: int = 1, javascript: bool = False, padding: int = 0) -> bytes:
    """A PDF of blank pages; ``padding`` random bytes in a stream make it as large as a scanned one."""
    import os

    import pikepdf
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    if padding:
        pdf.Root.Pad = pdf.make_stream(os.urandom(padding))
    if javascript:
        action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
        pdf.Root.OpenAction = action
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    import pikepdf
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    return out.getvalue()


def polyglot_jpeg_pdf() -> bytes:
    """A JPEG with a PDF carrying JavaScript appended: image viewers show the JPEG, some PDF readers the PDF."""
    return small_jpeg(4) + simple_pdf(javascript=True)
