from __future__ import annotations

from whowhywhen.kit.rate_limit import TokenBuckets, retry_after_seconds


class TestTokenBuckets:
    def test_a_burst_passes_then_the_rate_holds(self) -> None:
        buckets = TokenBuckets(rate=1000, burst=5000)
        assert buckets.take("k", 5000, now=0.0) == 0.0
        wait = buckets.take("k", 1000, now=0.0)
        assert wait == 1.0
        assert buckets.take("k", 1000, now=1.0) == 0.0

    def test_keys_have_their_own_buckets(self) -> None:
        buckets = TokenBuckets(rate=10, burst=10)
        assert buckets.take("a", 10, now=0.0) == 0.0
        assert buckets.take("b", 10, now=0.0) == 0.0
        assert buckets.take("a", 1, now=0.0) > 0

    def test_accepted_volume_over_time_matches_the_rate(self) -> None:
        buckets = TokenBuckets(rate=1000, burst=5000)
        accepted = 0
        for tick in range(1200):  # 60 s of 2× the rate, in 100-event batches
            now = tick * 0.05
            if buckets.take("k", 100, now=now) == 0.0:
                accepted += 100
        assert 0.9 * (60_000 + 5000) <= accepted <= 1.1 * (60_000 + 5000)

    def test_retry_after_is_a_whole_second_at_least(self) -> None:
        assert retry_after_seconds(0.001) == 1
        assert retry_after_seconds(2.2) == 3
