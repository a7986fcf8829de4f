"""PNGs built for the tests of a notice's uploaded image (bot/notices/images.py): real ones
(every chunk's CRC, the pixels deflated) of any size, or with too few or too many pixels. The
real photos are tests/data/photo.jpg and photo.png (``tests.helpers.JPEG``, ``PNG``)."""

from __future__ import annotations

import struct
import zlib


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 4, height: int = 3, *, rows: bytes | None = None, colour: int = 2) -> bytes:
    """An RGB (colour 2) or grey (0) 8-bit PNG, every row filter 0; ``rows`` overrides the
    pixels (to make them too few or too many)."""
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
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
