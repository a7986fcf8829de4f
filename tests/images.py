"""PNGs built for the tests of uploaded images (bot/images.py: a notice's image, a resident's
web chat photo): real ones (every chunk's CRC, the pixels deflated) of any size, with too few
or too many pixels, or a decompression bomb (``bomb``: small deflated, huge inflated). The real
photos are tests/data/photo.jpg and photo.png (``tests.helpers.JPEG``, ``PNG``)."""

from __future__ import annotations

import struct
import zlib


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


def bomb(width: int = 2000, height: int = 1500, inflated: int = 256 << 20) -> bytes:
    """A decompression bomb: a grey PNG whose header claims ``width`` × ``height`` (a picture
    within every limit by default) but whose pixels inflate to ``inflated`` bytes — 256 MB
    from about 250 KB."""
    return png(width, height, colour=0, idat=deflated_zeros(inflated))
