"""Reading an HTTP body whole, up to a limit — in one place for what we receive (requests to
our API) and what we fetch (Zalo's answers).

``StreamReader.read(n)`` returns what is buffered so far, not ``n`` bytes: an answer arriving in
two TCP segments (TLS records, chunked encoding) would be cut. Looping over ``iter_chunked``
waits for the end, and stops as soon as the limit is passed.
"""

from __future__ import annotations

from aiohttp import StreamReader

CHUNK = 64 * 1024


async def read_capped(stream: StreamReader, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in stream.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
