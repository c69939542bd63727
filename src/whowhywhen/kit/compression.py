"""Streaming gzip decoding with an output cap measured while decompressing (VAL-02)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

CHUNK = 8192


class TooLarge(Exception):
    pass


class CorruptData(Exception):
    pass


async def gunzip_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Decompress gzip chunks, stopping as soon as the output would pass `limit` bytes."""
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        async for chunk in chunks:
            data = chunk
            while data:
                piece = decoder.decompress(data, CHUNK)
                out += piece
                if len(out) > limit:
                    raise TooLarge
                data = decoder.unconsumed_tail
            if decoder.eof:
                break
        out += decoder.flush()
    except zlib.error as exc:
        raise CorruptData(str(exc)) from exc
    if len(out) > limit:
        raise TooLarge
    if not decoder.eof:
        raise CorruptData("gzip stream is truncated")
    return bytes(out)
