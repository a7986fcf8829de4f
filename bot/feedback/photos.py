"""Photos residents attach to a report from the public web chat: kept in the database with
their commune, shown only to the commune's staff through the API and the console.

Only a checked image is stored (``store`` takes a :class:`bot.images.CheckedImage`): the web
chat reads at most ``webchat.max_upload_bytes`` and checks the bytes with
``bot.images.check_image`` in a thread, outside any transaction — the same rules as a notice's
image: JPEG or PNG by content (the file's name and the type the browser claims are ignored, so
a script or a page renamed ``.jpg`` is refused), at most 8,192 px a side and 24 Mpx, a PNG's
pixels inflated to exactly what its header promises (a decompression bomb is refused). Staff
receive it with its own type, ``nosniff`` and a sandboxing policy, never from a public address.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.images import CheckedImage
from bot.store.models import Upload

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{22}$"


async def store(s: AsyncSession, commune_id: int, session: str, image: CheckedImage) -> Upload:
    upload = Upload(
        commune_id=commune_id,
        token=secrets.token_urlsafe(16),
        session=session,
        content_type=image.content_type,
        size=len(image.content),
        sha256=hashlib.sha256(image.content).hexdigest(),
        content=image.content,
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
