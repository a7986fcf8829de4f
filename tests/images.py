"""Images built for the tests of uploaded images (bot/images.py: a notice's image, a resident's
web chat photo): real PNGs (every chunk's CRC, the pixels deflated) of any size, with too few
or too many pixels, or a decompression bomb (``bomb``: small deflated, huge inflated); Pillow's
progressive JPEG with a scan repeated (``many_scans``: minutes to decode if taken) and
animated PNG (``apng``). The real photos are tests/data/photo.jpg and photo.png
(``tests.helpers.JPEG``, ``PNG``)."""

from __future__ import annotations

import functools
import io
import re
import struct
import zlib

from PIL import Image


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(
    width: int = 4,
    height: int = 3,
    *,
    rows: bytes | None = None,
    colour: int = 2,
    idat: bytes | None = None,
) -> bytes:
    """An RGB (colour 2) or grey (0) 8-bit PNG, every row filter 0; ``rows`` overrides the
    pixels (to make them too few or too many), ``idat`` the deflated stream itself."""
    samples = 3 if colour == 2 else 1
    raw = (
        rows
        if rows is not None
        else b"".join(b"\x00" + bytes([200, 30, 30][:samples]) * width for _ in range(height))
    )
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw) if idat is None else idat)
        + chunk(b"IEND", b"")
    )


def deflated_zeros(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes, made a megabyte at a time (about 1,000 : 1)."""
    deflater, piece = zlib.compressobj(9), bytes(1 << 20)
    parts = [deflater.compress(piece) for _ in range(size >> 20)]
    return b"".join([*parts, deflater.compress(bytes(size & ((1 << 20) - 1))), deflater.flush()])


@functools.cache
def bomb(width: int = 2000, height: int = 1500, inflated: int = 64 << 20) -> bytes:
    """A decompression bomb: a grey PNG whose header claims ``width`` × ``height`` (a picture
    within every limit by default, 3 MB of pixels) but whose pixels inflate to ``inflated``
    bytes — 64 MB from about 64 KB. Made once per run."""
    return png(width, height, colour=0, idat=deflated_zeros(inflated))


def with_chunks(image: bytes, *chunks: bytes, before: bytes = b"IDAT") -> bytes:
    """A PNG with ``chunks`` put before its first chunk of kind ``before`` (IDAT, IEND)."""
    at = image.index(before) - 4
    return image[:at] + b"".join(chunks) + image[at:]


def pillow(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def picture(width: int = 64, height: int = 48) -> Image.Image:
    return Image.effect_noise((width, height), 40).convert("RGB")


def scans(jpeg: bytes) -> list[bytes]:
    """A JPEG's scans: each start-of-scan segment with its entropy-coded data."""
    out, pos = [], 0
    while (start := jpeg.find(b"\xff\xda", pos)) >= 0:
        (length,) = struct.unpack(">H", jpeg[start + 2 : start + 4])
        end = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]").search(jpeg, start + 2 + length)
        assert end is not None
        out.append(jpeg[start : end.start()])
        pos = end.start()
    return out


def many_scans(total: int, width: int = 64, height: int = 48) -> bytes:
    """Pillow's progressive JPEG with its smallest scan repeated before the end marker until
    it has ``total`` scans: each is one more pass of the decoder over the whole picture (the
    review's 4,000 × 3,000 with 10,000 scans took 75 s to decode)."""
    jpeg = pillow(picture(width, height), "JPEG", progressive=True)
    found = scans(jpeg)
    end = jpeg.rindex(b"\xff\xd9")
    return jpeg[:end] + min(found, key=len) * (total - len(found)) + jpeg[end:]


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real baseline JPEG whose frame header (SOF0) says ``width`` × ``height``: what
    a phone's 50 Mpx photo declares, without its megabytes (the checker reads headers and
    never decodes the scan)."""
    jpeg = pillow(picture(), "JPEG")
    at = jpeg.index(b"\xff\xc0") + 5  # marker, length (2), precision (1), then height, width
    return jpeg[:at] + struct.pack(">HH", height, width) + jpeg[at + 4 :]


def apng(frames: int = 3, side: int = 32) -> bytes:
    """An animated PNG from Pillow: acTL, then fcTL and fdAT for each frame after the first."""
    pictures = [picture(side, side) for _ in range(frames)]
    return pillow(pictures[0], "PNG", save_all=True, append_images=pictures[1:])
