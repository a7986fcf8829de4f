"""An uploaded image checked by its content, in one place for every upload: a notice's image
(``bot.notices.images``, under Zalo's 1 MB) and a resident's photo from the public web chat
(``bot.channels.webchat`` → ``bot.feedback.photos``, under ``webchat.max_upload_bytes``). How many
bytes a caller reads is its own limit; what the bytes must be is decided here.

What a file is called, or the type a browser claims, says nothing: a PDF or a script renamed
``.jpg`` is refused before it is stored, served back to staff or sent to Zalo. The checks walk
the file's structure by hand rather than with Pillow (a native library of several MB with a long
CVE history); nothing here decodes a picture, and every walk is bounded: a file is refused after
at most ``MAX_JPEG_SEGMENTS`` JPEG marker segments or ``MAX_PNG_CHUNKS`` PNG chunks, and long
runs of bytes (a JPEG's entropy-coded data and fill bytes) are skipped by ``re`` and slicing, not
a Python loop per byte — the check holds the GIL, so a thread alone would not keep the event
loop free.

- PNG: the 8-byte signature, then every chunk to ``IEND`` with its CRC: ``IHDR`` first with a
  known bit depth × colour type and dimensions within the limits (:class:`TooManyPixels`,
  before a byte is inflated); at most one ``PLTE`` of 1–256 entries, before the pixels (and
  required for palette images); the ``IDAT`` chunks one run, inflated as they come (zlib, in
  pieces counted and thrown away) — exactly the rows the header promises, or refused one
  256-KB piece past it: a decompression bomb is never inflated whole. An animated PNG
  (``acTL``/``fcTL``/``fdAT``: frames a browser would decode, unchecked) is refused, and so is an
  unknown critical chunk (its name's first letter upper case) and anything after ``IEND``.
  Compressed ancillary chunks (``iCCP``, ``zTXt``, a compressed ``iTXt``) are inflated and
  counted too, at most ``MAX_METADATA_INFLATED`` (1 MB) for all of them; other ancillary
  chunks are ones decoders skip (Apple's ``iDOT``, C2PA's ``caBX``, ``eXIf``…) and pass.
- JPEG: ``FFD8`` then every marker segment to the end marker ``FFD9``: one baseline/extended/
  progressive frame header (``SOF0``–``SOF2``, 8-bit, 1, 3 or 4 components) before the first
  scan, quantisation tables, then each scan — its entropy-coded data skipped to the next marker
  (``FF00`` and the restart markers ``FFD0``–``FFD7`` belong to the data), tables between scans —
  at most ``MAX_SCANS`` scans (a phone's progressive JPEG has about 10; each is a pass of the
  decoder over the whole picture, so thousands make one file take minutes). The walk must end
  at ``FFD9``; bytes after it are allowed (phones' motion photos). Lossless, arithmetic-coded,
  hierarchical and 12-bit JPEGs are refused (phones do not show them); the entropy-coded data
  itself is not decoded.

Dimensions are limited to ``MAX_SIDE`` (8,192 px) a side and, in all, ``MAX_PIXELS`` (24
megapixels) for a PNG — whose pixels this checker inflates — and ``MAX_JPEG_PIXELS`` (50
megapixels: a phone's 50 Mpx mode, 8,160 × 6,120) for a JPEG, whose pixels it never decodes;
checked from the header: a small file may declare a huge picture that a phone, or staff's
browser, would choke on (:class:`TooManyPixels`, which names the limit that applied). A file that starts as a JPEG or PNG but does
not hold together is :class:`BrokenImage`.

A PNG at the limits inflates to 192 MB (counted, never kept; ``zlib`` releases the GIL while it
inflates): callers check off the event loop (``asyncio.to_thread``) and outside any database
transaction; the public web chat at most ``PHOTO_CHECKS`` at a time (``bot.channels.webchat``).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from bot.i18n import _

#: what a phone shows without choking, and what a photo from one is (4,624 × 3,472 is 16 Mpx);
#: a PNG of 16-bit RGBA at the limit inflates to 192 MB, checked in pieces, off the loop
MAX_SIDE = 8192
MAX_PIXELS = 24_000_000
MAX_JPEG_PIXELS = 50_000_000
#: a JPEG's marker segments in all (a phone's photo has about 20, a progressive one 40) and its
#: scans (libjpeg's progressive files have 10; each is a decoder's pass over the picture)
MAX_JPEG_SEGMENTS = 512
MAX_SCANS = 100
#: a PNG's chunks (encoders split the pixels into 8–64 KB ``IDAT``s: 640 for 5 MB at 8 KB)
MAX_PNG_CHUNKS = 8192
#: what a PNG's compressed metadata (colour profile, texts) may inflate to, all together
MAX_METADATA_INFLATED = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INFLATE_PIECE = 256 * 1024  # the most zlib hands over at once (counted, thrown away)
FEED_PIECE = 64 * 1024  # the most compressed bytes given to zlib at once (its tail is copied)
#: PNG colour type → (allowed bit depths, samples per pixel)
PNG_COLOURS = {
    0: ((1, 2, 4, 8, 16), 1),
    2: ((8, 16), 3),
    3: ((1, 2, 4, 8), 1),
    4: ((8, 16), 2),
    6: ((8, 16), 4),
}
PNG_ANIMATION = frozenset((b"acTL", b"fcTL", b"fdAT"))
_CHUNK_NAME = re.compile(rb"[A-Za-z]{4}")
#: JPEG markers: frames we take, frames phones do not show (lossless, hierarchical,
#: arithmetic-coded), and segments a decoder reads or skips (tables, restart interval,
#: APP0–APP15, comments)
JPEG_FRAMES = frozenset((0xC0, 0xC1, 0xC2))
JPEG_OTHER_FRAMES = frozenset((0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
JPEG_SEGMENTS = frozenset((0xC4, 0xDB, 0xDD, 0xFE, *range(0xE0, 0xF0)))
_FILL = re.compile(rb"\xff+")  # a marker's FF and the fill bytes before it
#: the next marker after a scan's entropy-coded data: FF then anything but 00 (a stuffed FF),
#: D0–D7 (restart markers, part of the data) or FF (fill: the match is the run's last FF)
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class ImageError(ValueError):
    """The upload is not a JPEG or PNG we take; ``str()`` says why, in the current language."""


class TooManyPixels(ImageError):
    """A JPEG or PNG whose header claims more than ``MAX_SIDE`` a side or more pixels than its
    type's limit, ``max_pixels`` (``MAX_PIXELS`` for a PNG, ``MAX_JPEG_PIXELS`` for a JPEG)."""

    def __init__(self, message: str, max_pixels: int) -> None:
        super().__init__(message)
        self.max_pixels = max_pixels


class BrokenImage(ImageError):
    """Bytes that start as a JPEG or PNG but do not hold together: cut short, a checksum or a
    structure that is wrong, pixels that are not what the header says (a decompression bomb),
    or more segments, chunks or scans than a photo has."""


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
    for a picture too large, :class:`BrokenImage` for a damaged one). CPU-bound on a PNG:
    call it in a thread."""
    if content.startswith(PNG_SIGNATURE):
        kind, (width, height) = "image/png", _png(content)
    elif content.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "image/jpeg", _jpeg(content)
    else:
        raise ImageError(_not_image())
    return CheckedImage(kind, width, height, content)


def _fits(width: int, height: int, most: int) -> None:
    """Refuse a picture with no pixels or more than the limits: ``MAX_SIDE`` a side and
    ``most`` pixels in all (the one rule, for both types)."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > most:
        raise TooManyPixels(
            _(
                "Ảnh quá lớn về kích thước (tối đa {side} điểm ảnh mỗi chiều và {mp} triệu điểm ảnh). "
                "Vui lòng chọn ảnh nhỏ hơn."
            ).format(side=f"{MAX_SIDE:,}".replace(",", "."), mp=most // 1_000_000),
            most,
        )


def _not_image() -> str:
    return _("Tệp này không phải ảnh JPEG hay PNG (dù tên tệp là gì). Vui lòng chọn ảnh khác.")


def _broken() -> BrokenImage:
    return BrokenImage(_("Ảnh bị hỏng hoặc không đọc được. Vui lòng chọn ảnh khác."))


# -- PNG ----------------------------------------------------------------------------------------
class _Inflating:
    """One zlib stream inflated as its pieces come, counted and thrown away: more than
    ``limit`` bytes, data after its end, or a broken stream is :class:`BrokenImage` at once, so
    memory and work stay small whatever the stream would give."""

    def __init__(self, limit: int) -> None:
        self.inflater = zlib.decompressobj()
        self.limit = limit
        self.total = 0

    def feed(self, data: memoryview) -> None:
        try:
            for start in range(0, len(data), FEED_PIECE):
                if self.inflater.eof:  # more compressed data after the stream's end
                    raise _broken()
                pending: bytes | memoryview = data[start : start + FEED_PIECE]
                while pending:
                    self.total += len(self.inflater.decompress(pending, INFLATE_PIECE))
                    if self.total > self.limit:
                        raise _broken()
                    pending = self.inflater.unconsumed_tail
        except zlib.error:
            raise _broken() from None

    def end(self) -> int:
        """The inflated size of the whole stream, which must have ended, with nothing after."""
        try:
            if not self.inflater.eof:  # all input taken: what zlib still holds is a few bytes
                self.total += len(self.inflater.flush())
        except zlib.error:
            raise _broken() from None
        if not self.inflater.eof or self.inflater.unused_data or self.total > self.limit:
            raise _broken()
        return self.total


def _png(content: bytes) -> tuple[int, int]:
    view = memoryview(content)
    pos, size = len(PNG_SIGNATURE), len(content)
    width = height = colour = 0
    pixels: _Inflating | None = None  # from IHDR
    metadata = MAX_METADATA_INFLATED  # what compressed metadata may still inflate to
    palette = profile = False
    idat = 0  # 0: none yet, 1: in the run of IDATs, 2: after it
    for _chunk in range(MAX_PNG_CHUNKS):
        if pos + 12 > size:
            raise _broken()
        length, kind = struct.unpack_from(">I4s", content, pos)
        end = pos + 12 + length
        if end > size or not _CHUNK_NAME.fullmatch(kind):
            raise _broken()
        body = view[pos + 8 : end - 4]
        (crc,) = struct.unpack_from(">I", content, end - 4)
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise _broken()
        pos = end
        if pixels is None:  # IHDR first
            if kind != b"IHDR" or length != 13:
                raise _broken()
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(
                ">IIBBBBB", body
            )
            depths, samples = PNG_COLOURS.get(colour, ((), 0))
            if depth not in depths or compression or filtering or interlace > 1:
                raise _broken()
            _fits(width, height, MAX_PIXELS)  # from the header, before a byte is inflated
            pixels = _Inflating(_png_raw_size(width, height, depth, samples, interlace))
            continue
        if kind == b"IDAT":
            if idat == 2:  # the pixels are one run of chunks
                raise _broken()
            idat = 1
            pixels.feed(body)
            continue
        if idat == 1:
            idat = 2
        if kind == b"IEND":
            if length or pos != size:  # nothing after the end: no page or script riding along
                raise _broken()
            break
        if kind == b"PLTE":
            if palette or idat or colour in (0, 4) or length % 3 or not 0 < length <= 768:
                raise _broken()
            palette = True
        elif kind in PNG_ANIMATION:
            raise ImageError(
                _("Ảnh động không được nhận. Vui lòng chọn ảnh chụp JPEG hoặc PNG (ảnh tĩnh).")
            )
        elif kind in (b"iCCP", b"zTXt", b"iTXt"):
            if kind == b"iCCP":
                if profile or idat:
                    raise _broken()
                profile = True
            metadata -= _metadata_inflated(kind, body, metadata)
        elif kind[0] < ord("a"):  # an unknown critical chunk: a decoder must refuse it
            raise _broken()
        # any other ancillary chunk is one decoders skip (tRNS, pHYs, eXIf, iDOT, caBX…)
    else:
        raise _broken()  # more chunks than any encoder writes
    if pixels is None or not idat or (colour == 3 and not palette):
        raise _broken()
    if pixels.end() != pixels.limit:  # fewer pixels than the header promises
        raise _broken()
    return width, height


def _metadata_inflated(kind: bytes, body: memoryview, budget: int) -> int:
    """How many bytes an ``iCCP``, ``zTXt`` or ``iTXt`` chunk's text or profile inflates to (0
    for an uncompressed ``iTXt``); past ``budget`` it is :class:`BrokenImage`."""
    raw = body.tobytes()
    start = raw.find(b"\0", 0, 80) + 1  # after the keyword (1–79 bytes)
    if start < 2:
        raise _broken()
    if kind == b"iTXt":  # compressed or not, method 0, a language tag, a translated keyword
        if raw[start : start + 2] not in (b"\0\0", b"\1\0"):
            raise _broken()
        if not raw[start]:
            return 0
        start += 2
        for _field in range(2):  # past the language tag and the translated keyword
            start = raw.find(b"\0", start) + 1
            if not start:
                raise _broken()
    elif raw[start : start + 1] != b"\0":  # compression method 0, deflate
        raise _broken()
    else:
        start += 1
    stream = _Inflating(budget)
    stream.feed(body[start:])
    return stream.end()


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


# -- JPEG ---------------------------------------------------------------------------------------
def _jpeg(content: bytes) -> tuple[int, int]:
    """Its frame's size, from a walk over every marker segment and scan to the end marker;
    bytes after that are allowed: phones' motion photos and some editors append their own
    data."""
    pos, size = 2, len(content)
    frame: tuple[int, int, int] | None = None  # width, height, components
    tables = False
    scans = 0
    for _segment in range(MAX_JPEG_SEGMENTS):
        fill = _FILL.match(content, pos)
        if fill is None:
            raise _broken()
        pos = fill.end() - 1  # the marker's FF, after any fill bytes
        if pos + 2 > size:
            raise _broken()
        marker = content[pos + 1]
        if marker == 0xD9:  # the end: the picture must have been drawn
            if frame is None or not scans:
                raise _broken()
            return frame[0], frame[1]
        if pos + 4 > size:
            raise _broken()
        (length,) = struct.unpack_from(">H", content, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > size:
            raise _broken()
        if marker in JPEG_FRAMES:
            if frame is not None or length < 8:  # one frame: a second is a second picture
                raise _broken()
            precision, height, width, components = struct.unpack_from(">BHHB", content, pos + 4)
            if precision != 8:
                raise ImageError(_not_image())  # 12-bit: phones do not show it
            if components not in (1, 3, 4) or length != 8 + 3 * components:
                raise _broken()
            if not width or not height:  # a height given later (DNL): nothing shows it
                raise _broken()
            frame = (width, height, components)
            _fits(width, height, MAX_JPEG_PIXELS)
        elif marker in JPEG_OTHER_FRAMES:
            raise ImageError(_not_image())  # lossless/arithmetic JPEG: phones do not show it
        elif marker == 0xDA:  # a scan: the frame and its tables known by now
            if frame is None or not tables or length < 3:
                raise _broken()
            components = content[pos + 4]
            if not 0 < components <= frame[2] or length != 6 + 2 * components:
                raise _broken()
            scans += 1
            if scans > MAX_SCANS:
                raise _broken()
            after = _NEXT_MARKER.search(content, end)  # past the entropy-coded data
            if after is None:
                raise _broken()
            pos = after.start()
            continue
        elif marker == 0xDB:
            tables = True
        elif marker not in JPEG_SEGMENTS:  # a second start, a stray restart, a reserved one
            raise _broken()
        pos = end
    raise _broken()  # more segments than any camera writes
