from __future__ import annotations

import math
import re

from whowhywhen.kit.keys import (
    KEY_LENGTH,
    generate_api_key,
    hash_secret,
    is_well_formed_api_key,
    visible_prefix,
)

KEY_RE = re.compile(r"^wwy_[0-9A-Za-z]{49}$")


class TestGenerateApiKey:
    def test_ten_thousand_keys_are_distinct_well_formed_and_checksummed(self) -> None:
        keys = {generate_api_key() for _ in range(10_000)}
        assert len(keys) == 10_000
        assert all(KEY_RE.match(key) and is_well_formed_api_key(key) for key in keys)

    def test_entropy_is_at_least_190_bits(self) -> None:
        # 32 random bytes, of which only the visible prefix is ever shown again.
        shown = len(visible_prefix(generate_api_key())) - len("wwy_")
        assert 256 - shown * math.log2(62) >= 190


class TestIsWellFormedApiKey:
    def test_a_changed_character_fails_the_checksum(self) -> None:
        key = generate_api_key()
        index = 10
        flipped = "B" if key[index] == "A" else "A"
        assert not is_well_formed_api_key(key[:index] + flipped + key[index + 1 :])

    def test_wrong_shapes_are_refused(self) -> None:
        key = generate_api_key()
        for bad in ("", key[:-1], key + "x", "abc_" + key[4:], key[:20] + "-" + key[21:]):
            assert not is_well_formed_api_key(bad)
        assert len(key) == KEY_LENGTH

    def test_only_the_hash_is_derived_for_storage(self) -> None:
        key = generate_api_key()
        assert hash_secret(key) != key
        assert len(hash_secret(key)) == 64
