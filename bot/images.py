"""An uploaded image checked by its content, in one place for every upload: a notice's image
(``bot.notices.images``, under Zalo's 1 MB) and a resident's photo from the public web chat
(``bot.channels.webchat`` → ``bot.feedback.photos``, under ``webchat.max_upload_bytes``). How many
bytes a caller reads is its own limit; what the bytes must be is decided here.

What a file is called, or the type a browser claims, says nothing: a PDF or a script renamed
``.jpg`` is refused before it is stored, served back to staff or sent to Zalo. The checks, by hand
rather than with Pillow (a native library of several MB with a long CVE history, for what is a
walk over a few headers):

- PNG: the 8-byte signature, then every chunk to ``IEND`` with its CRC, ``IHDR`` first with a
  known bit depth × colour type and sane dimensions, ``PLTE`` for palette images, at least one
  ``IDAT``; the ``IDAT`` stream inflated (zlib, in pieces counted and thrown away, stopping
  one byte past what the header allows) must give exactly the rows the header promises — a
  decompression bomb is refused after inflating at most that much, whatever it would give.
- JPEG: ``FFD8`` then well-formed marker segments to the scan: a baseline/progressive frame
  header (``SOF0``–``SOF2``) with its dimensions and 1, 3 or 4 components, quantisation tables,
  a start of scan; an end marker after it (bytes after that are allowed: phones' motion
  photos). The entropy-coded data itself is not decoded.

Dimensions are limited to ``MAX_SIDE`` (8,192 px) a side and ``MAX_PIXELS`` (24 megapixels),
checked from the header before any pixel is inflated: a small file may declare a huge picture
that a phone, or staff's browser, would choke on (:class:`TooManyPixels`).

A PNG at the limits inflates to 192 MB (counted, never kept): callers check off the event loop
(``asyncio.to_thread``) and outside any database transaction.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from bot.i18n import _

#: what a phone shows without choking, and what a photo from one is (4,624 × 3,472 is 16 Mpx);
#: a PNG of 16-bit RGBA at the limit inflates to 192 MB, checked in pieces, off the loop
MAX_SIDE = 8192
MAX_PIXELS = 24_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INFLATE_PIECE = 256 * 1024
#: PNG colour type → (allowed bit depths, samples per pixel)
PNG_COLOURS = {
    0: ((1, 2, 4, 8, 16), 1),
    2: ((8, 16), 3),
    3: ((1, 2, 4, 8), 1),
    4: ((8, 16), 2),
    6: ((8, 16), 4),
}


class ImageError(ValueError):
    """The upload is not a JPEG or PNG we take; ``str()`` says why, in the current language."""


class TooManyPixels(ImageError):
    """A JPEG or PNG whose header claims more than ``MAX_SIDE`` a side or ``MAX_PIXELS``."""


@dataclass(frozen=True)
class CheckedImage:
    content_type: str  # image/jpeg | image/png
    width: int
    height: int
    content: bytes

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"


def check_image(content: bytes) -> CheckedImage:
    """The image's type and size in pixels, or :class:`ImageError` (:class:`TooManyPixels`
    for a picture too large). CPU-bound on a PNG: call it in a thread."""
    if content.startswith(PNG_SIGNATURE):
        kind, (width, height) = "image/png", _png(content)
    elif content.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "image/jpeg", _jpeg(content)
    else:
        raise ImageError(_not_image())
    _fits(width, height)
    return CheckedImage(kind, width, height, content)


def _fits(width: int, height: int) -> None:
    """Refuse a picture with no pixels or more than the limits (the one rule, for both types)."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise TooManyPixels(
            _(
                "Ảnh quá lớn về kích thước (tối đa {side} điểm ảnh mỗi chiều và {mp} triệu điểm ảnh). "
                "Vui lòng chọn ảnh nhỏ hơn."
            ).format(side=f"{MAX_SIDE:,}".replace(",", "."), mp=MAX_PIXELS // 1_000_000)
        )


def _not_image() -> str:
    return _("Tệp này không phải ảnh JPEG hay PNG (dù tên tệp là gì). Vui lòng chọn ảnh khác.")


def _broken() -> ImageError:
    return ImageError(_("Ảnh bị hỏng hoặc không đọc được. Vui lòng chọn ảnh khác."))


def _png(content: bytes) -> tuple[int, int]:
    pos = len(PNG_SIGNATURE)
    header: tuple[int, int, int, int, int] | None = None
    palette = False
    data = bytearray()
    while True:
        if pos + 12 > len(content):
            raise _broken()
        (length,) = struct.unpack(">I", content[pos : pos + 4])
        kind = content[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > len(content) or end > len(content):
            raise _broken()
        body = content[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", content[pos + 8 + length : end])
        if zlib.crc32(kind + body) != crc:
            raise _broken()
        if header is None and kind != b"IHDR":
            raise _broken()
        if kind == b"IHDR":
            if header is not None or length != 13:
                raise _broken()
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(
                ">IIBBBBB", body
            )
            depths, _samples = PNG_COLOURS.get(colour, ((), 0))
            if depth not in depths or compression or filtering or interlace > 1:
                raise _broken()
            header = (width, height, depth, colour, interlace)
        elif kind == b"PLTE":
            palette = True
        elif kind == b"IDAT":
            data += body
        elif kind == b"IEND":
            break
        pos = end
    assert header is not None
    width, height, depth, colour, interlace = header
    if not data or (colour == 3 and not palette):
        raise _broken()
    _fits(width, height)  # from the header, before a byte is inflated
    expected = _png_raw_size(width, height, depth, PNG_COLOURS[colour][1], interlace)
    if _inflated_size(bytes(data), expected + 1) != expected:
        raise _broken()
    return width, height


def _inflated_size(data: bytes, limit: int) -> int:
    """How many bytes the zlib stream ``data`` inflates to — counted in 256-KB pieces that are
    thrown away, stopping past ``limit`` — or -1 if it is broken or does not end. Memory stays
    small whatever the picture claims."""
    inflater = zlib.decompressobj()
    total, pending = 0, data
    try:
        while pending and total <= limit:
            total += len(inflater.decompress(pending, INFLATE_PIECE))
            pending = inflater.unconsumed_tail
        if total <= limit and not inflater.eof:
            total += len(inflater.flush())
    except zlib.error:
        return -1
    return total if inflater.eof else -1


def _png_raw_size(width: int, height: int, depth: int, samples: int, interlace: int) -> int:
    """The inflated IDAT's length: each row's filter byte and its packed samples (Adam7: the
    seven passes' reduced images)."""

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * depth * samples + 7) // 8)

    if not interlace:
        return rows(width, height)
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    return sum(
        rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in passes
    )


def _jpeg(content: bytes) -> tuple[int, int]:
    """Its frame's size. The scan must end (an end marker after it); bytes after that are
    allowed: phones' motion photos and some editors append their own data."""
    pos = 2
    size: tuple[int, int] | None = None
    tables = False
    while pos + 4 <= len(content):
        if content[pos] != 0xFF:
            raise _broken()
        marker = content[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", content[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(content):
            raise _broken()
        segment = content[pos + 4 : pos + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2):
            if len(segment) < 6 or size is not None:
                raise _broken()
            precision, height, width, components = struct.unpack(">BHHB", segment[:6])
            if precision not in (8, 12) or components not in (1, 3, 4):
                raise _broken()
            if len(segment) != 6 + 3 * components:
                raise _broken()
            size = (width, height)
        elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            raise ImageError(_not_image())  # lossless/arithmetic JPEG: phones do not show it
        elif marker == 0xDB:
            tables = True
        elif marker == 0xDA:  # start of scan: the frame must be known by now
            if size is None or not tables or size[0] == 0 or size[1] == 0:
                raise _broken()
            if content.find(b"\xff\xd9", pos + 2 + length) < 0:
                raise _broken()
            return size
        elif marker == 0xD9:
            break
        pos += 2 + length
    raise _broken()
