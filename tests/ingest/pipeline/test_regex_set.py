from whowhywhen.ingest.pipeline.crawler_list import load_crawler_entries
from whowhywhen.ingest.pipeline.regex_set import RegexSet


class TestRegexSet:
    def test_reports_every_matching_pattern_in_order(self) -> None:
        patterns = RegexSet(["bot", "^Mozilla/", r"\d+"])
        assert list(patterns.matches("Mozilla/5.0 bot")) == [0, 1, 2]
        assert patterns.first("Mozilla/5.0") == 1
        assert patterns.matches("nothing") == ()
        assert patterns.first("nothing") is None

    def test_case_insensitive(self) -> None:
        patterns = RegexSet(["googlebot"], case_sensitive=False)
        assert patterns.first("Googlebot/2.1") == 0

    def test_empty_set_matches_nothing(self) -> None:
        patterns = RegexSet([])
        assert patterns.first("anything") is None
        assert patterns.matches("anything") == ()

    def test_patterns_re2_refuses_are_skipped_and_indexes_kept(self) -> None:
        patterns = RegexSet(["a(?=b)", "(x)\\1", "bot"])
        assert patterns.skipped == ["a(?=b)", "(x)\\1"]
        assert patterns.first("a bot") == 2
        assert list(patterns.matches("ab bot")) == [2]

    def test_the_whole_crawler_list_compiles(self) -> None:
        patterns = RegexSet(e.pattern for e in load_crawler_entries())
        assert patterns.skipped == []
