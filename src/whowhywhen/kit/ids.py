import os
import random
import time
import uuid

# Ids are not secrets: a PRNG seeded from the OS (and re-seeded in forked children) avoids one
# getrandom() system call per event, which costs microseconds on virtual machines.
_random = random.Random()  # noqa: S311
os.register_at_fork(after_in_child=_random.seed)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 v7): new rows land at the end of the index."""
    ms = time.time_ns() // 1_000_000
    rand = _random.getrandbits(74)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
