from __future__ import annotations

import os
import time

from whowhywhen.kit.ids import uuid7


class TestUuid7:
    def test_version_variant_and_uniqueness(self) -> None:
        ids = [uuid7() for _ in range(50_000)]
        assert len(set(ids)) == len(ids)
        assert {u.version for u in ids} == {7}
        assert {u.variant for u in ids} == {"specified in RFC 4122"}

    def test_ids_are_ordered_by_time(self) -> None:
        first = uuid7()
        time.sleep(0.002)
        assert uuid7().int >> 80 > first.int >> 80

    def test_a_forked_child_does_not_repeat_the_parent(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.write(write, uuid7().bytes)
            os._exit(0)
        os.waitpid(pid, 0)
        child = os.read(read, 16)
        parent = uuid7().bytes
        assert child[6:] != parent[6:]
