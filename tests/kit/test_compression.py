from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from whowhywhen.kit.compression import CorruptData, TooLarge, gunzip_limited


async def chunks_of(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class TestGunzipLimited:
    async def test_round_trips(self) -> None:
        data = b"x" * 100_000
        assert await gunzip_limited(chunks_of(gzip.compress(data)), 200_000) == data

    async def test_exactly_at_the_limit_is_accepted_and_one_byte_over_refused(self) -> None:
        data = b"y" * 50_000
        assert await gunzip_limited(chunks_of(gzip.compress(data)), 50_000) == data
        with pytest.raises(TooLarge):
            await gunzip_limited(chunks_of(gzip.compress(data + b"y")), 50_000)

    async def test_a_bomb_stops_early_without_inflating_everything(self) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = compressor.compress(b"\0" * (256 * 1024 * 1024)) + compressor.flush()
        consumed = 0

        async def counting() -> AsyncIterator[bytes]:
            nonlocal consumed
            async for chunk in chunks_of(bomb):
                consumed += len(chunk)
                yield chunk

        with pytest.raises(TooLarge):
            await gunzip_limited(counting(), 10 * 1024 * 1024)
        assert consumed < len(bomb)

    async def test_corrupt_and_truncated_streams_are_refused(self) -> None:
        with pytest.raises(CorruptData):
            await gunzip_limited(chunks_of(b"not gzip at all"), 1000)
        with pytest.raises(CorruptData):
            await gunzip_limited(chunks_of(gzip.compress(b"z" * 5000)[:-10]), 10_000)
