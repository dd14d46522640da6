"""Normalising what a scanner or a phone gives us into what we store.

- The type is judged by the first bytes (magic), never by the name: JPEG ``FF D8 FF``, PNG
  ``89 PNG``, TIFF ``II*\\0``/``MM\\0*``, PDF ``%PDF-`` at offset 0. Anything else is refused.
  A polyglot (say a JPEG with a PDF appended) is what its first bytes say it is, and re-encoding it
  keeps only the image.
- Images are re-encoded: EXIF orientation applied, then every metadata block dropped (EXIF, GPS, XMP,
  ICC), long side at most ``MAX_SIDE`` = 2339 px (A4 at 200 dpi), grayscale when the page has no
  colour, JPEG quality ``QUALITY_GRAY``/``QUALITY_COLOUR`` (text stays legible, paper grain goes).
  JPEGs are decoded with ``Image.draft`` at 1/2, 1/4 or 1/8 scale straight from the DCT data, so a
  12-MP photo never exists in memory at full size.
- Several images of one component become one PDF (img2pdf embeds the JPEGs as they are, no second
  loss).
- PDFs are kept as sent unless they are encrypted or carry JavaScript (or an auto-run action); then
  they are refused, saying which (pikepdf parses them, object streams included).
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import sys
import threading
from dataclasses import dataclass

import img2pdf
import pikepdf
from PIL import Image, ImageOps, ImageStat

MAX_SIDE = 2339
QUALITY_GRAY = 55
QUALITY_COLOUR = 60
MAX_PAGES = 60  # pages of one component in one upload
MAX_PIXELS = 60_000_000  # refuse decompression bombs (a 12-MP photo is 12 M)
COLOUR_THRESHOLD = 24  # a pixel whose Cb+Cr strays this far from the page mean is coloured
COLOUR_FRACTION = 0.004  # a page with fewer coloured pixels than this is monochrome

# One normalisation at a time per process: a desk PC has one or two cores, and the peak memory of the node
# stays that of one photo however many phones upload at once.
_ONE_AT_A_TIME = threading.Lock()


def _return_big_buffers_to_the_os() -> None:
    """glibc raises its mmap threshold after the first big free, so later 10-50 MB image buffers come from
    the heap and stay resident after use (per thread arena). A fixed 1 MB threshold makes every big buffer
    an mmap that goes back to the system when freed, so the node's RSS falls back after each photo."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


_return_big_buffers_to_the_os()

TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "pdf": "application/pdf"}
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ScanRefused(ValueError):
    """A file refused, with the Vietnamese message for the clerk and a machine code for the API."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Normalised:
    data: bytes
    mime: str  # image/jpeg or application/pdf
    pages: int
    original_size: int
    original_type: str
    thumbnail: bytes | None  # a small JPEG of the first page (images only)

    @property
    def size(self) -> int:
        return len(self.data)


def sniff(data: bytes) -> str | None:
    head = data[:8]
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:5] == b"%PDF-":
        return "pdf"
    return None


def _refuse_type():
    raise ScanRefused("unsupported_type", "Tệp không phải ảnh JPEG, PNG, TIFF hay tệp PDF (đã kiểm tra nội dung tệp, "
                                          "không dựa vào tên tệp). Vui lòng quét lại.")


def _open_image(data: bytes, kind: str, mode: str | None = None, scale: int = 1) -> Image.Image:
    """Decode an image; a JPEG is decoded straight into ``mode`` (e.g. "L": only the luma plane) and at
    1/``scale`` by the DCT decoder itself (``draft``), so a 12-MP photo never exists in memory in full colour."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.format is None or img.format.lower() not in {"jpeg": ("jpeg", "mpo"), "png": ("png",),
                                                             "tiff": ("tiff",)}[kind]:
            _refuse_type()
        width, height = img.size
        if kind == "jpeg" and (mode or scale > 1) and img.mode in ("RGB", "YCbCr", "L"):
            img.draft(mode or img.mode, (max(1, width // scale), max(1, height // scale)))
        img.load()
        return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ScanRefused("too_large", "Ảnh có kích thước điểm ảnh quá lớn.") from None
    except ScanRefused:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ScanRefused("damaged", "Không đọc được ảnh (tệp bị hỏng hoặc không đầy đủ).") from exc


def _monochrome(img: Image.Image) -> bool:
    """No colour beyond the paper's tint: few pixels whose chroma strays from the page's mean chroma.

    Paper under office light is never neutral grey, so saturation alone would call every page colour;
    a red stamp or a photo is what makes a page colour.
    """
    if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    small = img.convert("RGB")
    small.thumbnail((256, 256))
    _y, cb, cr = small.convert("YCbCr").split()
    mean_cb, mean_cr = ImageStat.Stat(cb).mean[0], ImageStat.Stat(cr).mean[0]
    stray = sum(1 for b, r in zip(cb.tobytes(), cr.tobytes(), strict=True)
                if abs(b - mean_cb) + abs(r - mean_cr) > COLOUR_THRESHOLD)
    return stray < COLOUR_FRACTION * small.size[0] * small.size[1]


_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _fit(img: Image.Image) -> Image.Image:
    """Long side at most MAX_SIDE: a cheap integer box reduction first, then Lanczos."""
    if max(img.size) > MAX_SIDE:
        factor = max(img.size) / MAX_SIDE
        if factor >= 2:
            img = img.reduce(int(factor))
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return img


def _jpeg_page(data: bytes) -> tuple[Image.Image, bool]:
    """A JPEG photo or scan, decoded plane by plane so a 12-MP colour photo never sits in memory whole.

    Luma is decoded (at full or half scale) straight into an "L" image and fitted to MAX_SIDE; for a
    colour page the chroma comes from a second decode at a smaller scale (the DCT decoder scales for
    free), as JPEG itself stores chroma at half resolution. Peak: about one full-size luma plane.
    """
    probe = Image.open(io.BytesIO(data))
    orientation = probe.getexif().get(0x0112, 1)
    long_side = max(probe.size)
    gray = _monochrome(_open_image(data, "jpeg", "RGB", 8))
    scale = 2 if long_side >= 2 * MAX_SIDE else 1
    luma = _open_image(data, "jpeg", "L", scale)
    if luma.mode != "L":
        luma = luma.convert("L")
    img = _fit(luma)
    if not gray:
        chroma_scale = 1
        while chroma_scale < 8 and long_side / (chroma_scale * 2) >= max(img.size) / 2:
            chroma_scale *= 2
        colour = _open_image(data, "jpeg", "YCbCr", chroma_scale)
        if colour.mode != "YCbCr":
            colour = colour.convert("RGB").convert("YCbCr")
        _y, cb, cr = colour.resize(img.size, Image.BICUBIC).split()
        del colour, _y
        img = Image.merge("YCbCr", (img, cb, cr)).convert("RGB")
    if orientation in _ORIENTATION:
        img = img.transpose(_ORIENTATION[orientation])
    return img, gray


def _page_jpeg(data: bytes, kind: str, frame: int = 0) -> tuple[bytes, bytes]:
    """One image (or one frame of a multi-page TIFF) -> (page JPEG, thumbnail JPEG), metadata stripped."""
    if kind == "jpeg":
        img, gray = _jpeg_page(data)
    else:
        img = _open_image(data, kind)
        if frame:
            img.seek(frame)
            img.load()
        with contextlib.suppress(Exception):  # a broken EXIF block is simply dropped
            ImageOps.exif_transpose(img, in_place=True)
        if img.mode in ("RGBA", "LA", "P", "PA"):
            img = img.convert("RGBA")
            background = Image.new("RGB", img.size, (255, 255, 255))
            background.paste(img, mask=img.getchannel("A"))
            img = background
        gray = _monochrome(img)
        target = "L" if gray else "RGB"
        if img.mode != target:
            img = img.convert(target)
        img = _fit(img)
    img.info.clear()
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY_GRAY if gray else QUALITY_COLOUR, optimize=True, progressive=True,
             dpi=(200, 200))  # no exif=, no icc_profile=: nothing of the original's metadata is written
    thumb = img.copy()
    thumb.thumbnail((240, 240))
    tout = io.BytesIO()
    thumb.save(tout, "JPEG", quality=70)
    return out.getvalue(), tout.getvalue()


def _check_pdf(data: bytes) -> int:
    """Page count of an acceptable PDF; refuses encrypted ones and ones with JavaScript or auto-run actions."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise ScanRefused("pdf_encrypted", "Tệp PDF được mã hóa (đặt mật khẩu); vui lòng quét hoặc xuất lại "
                                           "tệp không mã hóa.") from None
    except pikepdf.PdfError as exc:
        raise ScanRefused("damaged", "Không đọc được tệp PDF (tệp bị hỏng).") from exc
    with pdf:
        if pdf.is_encrypted:
            raise ScanRefused("pdf_encrypted", "Tệp PDF được mã hóa; vui lòng quét hoặc xuất lại tệp không mã hóa.")
        names = pdf.Root.get("/Names")
        if names is not None and "/JavaScript" in names:
            _refuse_js()
        for key in ("/OpenAction", "/AA"):
            if key in pdf.Root and _has_script(pdf.Root[key]):
                _refuse_js()
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary) and ("/JS" in obj or obj.get("/S") == "/JavaScript"):
                _refuse_js()
        pages = len(pdf.pages)
    if pages < 1:
        raise ScanRefused("damaged", "Tệp PDF không có trang nào.")
    return pages


def _has_script(obj) -> bool:
    if isinstance(obj, pikepdf.Dictionary):
        return "/JS" in obj or obj.get("/S") in ("/JavaScript", "/Launch")
    if isinstance(obj, pikepdf.Array):
        return any(_has_script(o) for o in obj)
    return False


def _refuse_js():
    raise ScanRefused("pdf_javascript", "Tệp PDF có chứa mã JavaScript (mã tự chạy); không nhận tệp này. "
                                        "Vui lòng quét lại giấy tờ thành tệp PDF thông thường.")


def _frames(data: bytes) -> int:
    try:
        return max(1, getattr(Image.open(io.BytesIO(data)), "n_frames", 1))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ScanRefused("damaged", "Không đọc được ảnh (tệp bị hỏng hoặc không đầy đủ).") from exc


def normalise(files: list[bytes], max_file_bytes: int) -> Normalised:
    """One component's upload (one PDF, or one or more images) -> what is stored. Raises ScanRefused."""
    with _ONE_AT_A_TIME:
        return _normalise(files, max_file_bytes)


def _normalise(files: list[bytes], max_file_bytes: int) -> Normalised:
    if not files:
        raise ScanRefused("no_file", "Chọn tệp cần đính kèm.")
    for data in files:
        if len(data) > max_file_bytes:
            raise ScanRefused("too_large", f"Tệp lớn hơn mức cho phép {max_file_bytes // 2**20} MB.")
        if not data:
            raise ScanRefused("no_file", "Tệp rỗng.")
    kinds = [sniff(d) for d in files]
    if any(k is None for k in kinds):
        _refuse_type()
    original = sum(len(d) for d in files)
    if "pdf" in kinds:
        if len(files) > 1:
            raise ScanRefused("mixed", "Mỗi lần chỉ gửi một tệp PDF, hoặc một hay nhiều ảnh.")
        pages = _check_pdf(files[0])
        return Normalised(files[0], "application/pdf", pages, original, "pdf", None)
    pages_jpeg, thumb = [], None
    for data, kind in zip(files, kinds, strict=True):
        frames = _frames(data) if kind == "tiff" else 1  # a scanner's multi-page TIFF: one page a frame
        for frame in range(frames):
            page, small = _page_jpeg(data, kind, frame)
            pages_jpeg.append(page)
            thumb = thumb or small
        if len(pages_jpeg) > MAX_PAGES:
            raise ScanRefused("too_large", f"Mỗi lần gửi tối đa {MAX_PAGES} trang.")
    if len(pages_jpeg) == 1:
        return Normalised(pages_jpeg[0], "image/jpeg", 1, original, kinds[0], thumb)
    pdf = img2pdf.convert(pages_jpeg, layout_fun=img2pdf.get_fixed_dpi_layout_fun((200, 200)))
    return Normalised(pdf, "application/pdf", len(pages_jpeg), original, "+".join(sorted(set(kinds))), thumb)
