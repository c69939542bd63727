from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whowhywhen.kit.histogram import GAMMA, bin_of, bin_value, merge, percentiles


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def histogram_of(values: list[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[bin_of(value)] = counts.get(bin_of(value), 0) + 1
    return counts


class TestBins:
    def test_a_bin_is_at_most_4_percent_wide(self) -> None:
        assert GAMMA <= 1.04

    @given(st.floats(min_value=0.01, max_value=86_400_000))
    def test_the_representative_value_is_within_2_percent(self, value: float) -> None:
        assert bin_value(bin_of(value)) == pytest.approx(value, rel=0.021)

    def test_zero_and_tiny_durations_share_the_lowest_bin(self) -> None:
        assert bin_of(0.0) == bin_of(0.0001)
        assert bin_value(bin_of(0.0)) == 0.0


class TestPercentiles:
    @pytest.mark.parametrize("seed", range(5))
    def test_within_5_percent_of_exact_on_a_lognormal_mix(self, seed: int) -> None:
        rng = random.Random(seed)
        values = [rng.lognormvariate(3.5, 1.2) for _ in range(20_000)]
        values += [rng.uniform(800, 3000) for _ in range(400)]
        parts = [histogram_of(values[i::7]) for i in range(7)]
        merged = merge(parts)
        for q, got in zip(
            (0.5, 0.95, 0.99), percentiles(merged, (0.5, 0.95, 0.99), max(values)), strict=True
        ):
            assert got == pytest.approx(exact(values, q), rel=0.05)

    @settings(max_examples=200)
    @given(
        st.lists(st.floats(min_value=0.05, max_value=600_000), min_size=1, max_size=300),
        st.sampled_from([0.5, 0.9, 0.95, 0.99]),
    )
    def test_any_sample_within_5_percent(self, values: list[float], q: float) -> None:
        [got] = percentiles(histogram_of(values), [q], max(values))
        assert got == pytest.approx(exact(values, q), rel=0.05)

    def test_an_empty_histogram_has_no_percentiles(self) -> None:
        assert percentiles({}, [0.5, 0.99]) == [None, None]
