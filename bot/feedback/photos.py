"""Photos residents attach to a report from the web chat: recognised by their bytes, kept in
the database with their commune, shown only to the commune's staff through the API.

A photo is accepted only if its content is a JPEG or a PNG — the file's name and the type the
browser claims are ignored — so a script or a page renamed ``.jpg`` is refused and nothing is
stored. Staff receive it with its own type, ``nosniff`` and a sandboxing policy, never from a
public address.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import zlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Upload

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{22}$"


def image_type(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` when the bytes are one, else None."""
    if data[:3] == b"\xff\xd8\xff" and _jpeg_frame(data):
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and _png_ok(data):
        return "image/png"
    return None


def _jpeg_frame(data: bytes) -> bool:
    """The segments up to the first frame header are well formed (a renamed text file that
    happens to start with FF D8 FF is not)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if length < 2:
            return False
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return length >= 8 and i + 2 + length <= len(data)
        i += 2 + length
    return False


def _png_ok(data: bytes) -> bool:
    """IHDR first with a valid checksum, and an IEND chunk at the end."""
    if len(data) < 8 + 25 + 12 or data[12:16] != b"IHDR":
        return False
    length = struct.unpack(">I", data[8:12])[0]
    if length != 13:
        return False
    crc = struct.unpack(">I", data[29:33])[0]
    return zlib.crc32(data[12:29]) == crc and data[-12:-4] == b"\x00\x00\x00\x00IEND"


async def store(
    s: AsyncSession, commune_id: int, session: str, data: bytes, content_type: str
) -> Upload:
    upload = Upload(
        commune_id=commune_id,
        token=secrets.token_urlsafe(16),
        session=session,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
    )
    s.add(upload)
    await s.flush()
    return upload


async def owned(s: AsyncSession, commune_id: int, session: str, token: str) -> bool:
    """Whether this session of this commune sent the upload ``token`` (the bytes stay put)."""
    return (
        await s.execute(
            select(Upload.id).where(
                Upload.commune_id == commune_id, Upload.session == session, Upload.token == token
            )
        )
    ).first() is not None


async def by_token(s: AsyncSession, commune_id: int, token: str) -> Upload | None:
    return (
        await s.execute(
            select(Upload).where(Upload.commune_id == commune_id, Upload.token == token)
        )
    ).scalar_one_or_none()
