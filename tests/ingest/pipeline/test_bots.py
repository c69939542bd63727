"""Bot detection against the whole crawler list and a corpus of browser user agents."""

import pytest

from tests.ingest.pipeline.helpers import GOOGLEBOT, GPTBOT, browser_user_agents
from whowhywhen.ingest.pipeline import BotInfo, UserAgentClassifier
from whowhywhen.ingest.pipeline.bot_categories import KNOWN_BOTS, category_from_tags
from whowhywhen.ingest.pipeline.bots import BotMatcher
from whowhywhen.ingest.pipeline.crawler_list import (
    CrawlerEntry,
    derive_name,
    load_crawler_entries,
    strip_regex_syntax,
)
from whowhywhen.models.enums import BotCategory, ClientType

ENTRIES = load_crawler_entries()


class TestCrawlerList:
    def test_every_non_library_instance_is_a_bot_with_a_category(
        self, classifier: UserAgentClassifier
    ) -> None:
        instances = [i for e in ENTRIES if not e.is_library for i in e.instances]
        found = [classifier.classify(i).bot for i in instances]
        missed = [i for i, b in zip(instances, found, strict=True) if b is None]
        assert len(instances) > 1500
        assert len(missed) <= len(instances) * 0.01, missed[:20]
        assert all(b is None or b.category in BotCategory for b in found)

    def test_http_library_instances_are_libraries_not_bots(
        self, classifier: UserAgentClassifier
    ) -> None:
        instances = [i for e in ENTRIES if e.is_library for i in e.instances]
        assert len(instances) > 40
        wrong = [
            i for i in instances if classifier.classify(i).client_type is not ClientType.library
        ]
        assert wrong == []

    def test_crawling_frameworks_tagged_as_libraries_stay_bots(self) -> None:
        scrapy = next(e for e in ENTRIES if e.pattern == "Scrapy")
        assert "http-library" in scrapy.tags
        assert not scrapy.is_library

    def test_every_entry_has_a_usable_name(self) -> None:
        for entry in ENTRIES:
            assert 0 < len(entry.name) <= 60, entry
            assert entry.name == entry.name.strip()


class TestBrowserCorpus:
    def test_at_most_half_a_percent_of_browsers_are_flagged_as_bots(
        self, classifier: UserAgentClassifier
    ) -> None:
        corpus = browser_user_agents()
        flagged = [ua for ua in corpus if classifier.classify(ua).bot is not None]
        assert len(corpus) >= 1000
        assert len(flagged) <= len(corpus) * 0.005, flagged[:20]

    def test_browsers_are_browser_clients(self, classifier: UserAgentClassifier) -> None:
        corpus = browser_user_agents()
        others = [
            ua for ua in corpus if classifier.classify(ua).client_type is not ClientType.browser
        ]
        assert len(others) <= len(corpus) * 0.005, others[:20]


class TestWellKnownBots:
    @pytest.mark.parametrize(
        ("raw", "name", "category"),
        [
            (GOOGLEBOT, "Googlebot", BotCategory.search_engine),
            (GPTBOT, "GPTBot", BotCategory.ai_crawler),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                "Bingbot",
                BotCategory.search_engine,
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
                "+claudebot@anthropic.com)",
                "ClaudeBot",
                BotCategory.ai_crawler,
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; "
                "OAI-SearchBot/1.0; +https://openai.com/searchbot",
                "OAI-SearchBot",
                BotCategory.ai_crawler,
            ),
            (
                "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
                "AhrefsBot",
                BotCategory.seo,
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                "facebookexternalhit",
                BotCategory.social_media,
            ),
            (
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                "Slackbot",
                BotCategory.social_media,
            ),
            (
                "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                "UptimeRobot",
                BotCategory.monitoring,
            ),
            ("kube-probe/1.30", "kube-probe", BotCategory.monitoring),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "HeadlessChrome/120.0.0.0 Safari/537.36",
                "HeadlessChrome",
                BotCategory.scraper,
            ),
            ("Scrapy/2.11.2 (+https://scrapy.org)", "Scrapy", BotCategory.scraper),
        ],
    )
    def test_names_and_categories(
        self, classifier: UserAgentClassifier, raw: str, name: str, category: BotCategory
    ) -> None:
        found = classifier.classify(raw).bot
        assert found is not None
        assert (found.name, found.category) == (name, category)

    def test_known_bots_get_the_lists_url(self, classifier: UserAgentClassifier) -> None:
        found = classifier.classify(GOOGLEBOT).bot
        assert found is not None
        assert found.url == "http://www.google.com/bot.html"

    @pytest.mark.parametrize(
        "raw",
        [
            "curl/8.5.0",
            "python-requests/2.32.3",
            "okhttp/4.12.0",
            "Go-http-client/2.0",
            "axios/1.7.2",
            "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
            "PostmanRuntime/7.39.0",
            "Wget/1.21",
        ],
    )
    def test_libraries_are_not_bots(self, classifier: UserAgentClassifier, raw: str) -> None:
        info = classifier.classify(raw)
        assert info.client_type is ClientType.library
        assert info.bot is None

    @pytest.mark.parametrize(
        "raw",
        [
            # a phone brand with "bot" in it, and Amazon's browser: ua-parser knows them
            "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Silk/126.3.1 like Chrome/126.0.6478.153 Safari/537.36",
            # in-app browsers of social networks are people, not link-preview bots
            "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP2A.240805.005; wv) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 "
            "Mobile Safari/537.36 [Pinterest/Android]",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 LinkedInApp/9.29.1",
        ],
    )
    def test_lookalike_browsers_are_not_bots(
        self, classifier: UserAgentClassifier, raw: str
    ) -> None:
        assert classifier.classify(raw).bot is None

    def test_one_name_always_has_the_same_info(self, classifier: UserAgentClassifier) -> None:
        instances = [i for e in ENTRIES if not e.is_library for i in e.instances]
        by_name: dict[str, BotInfo] = {}
        for raw in instances:
            found = classifier.classify(raw).bot
            assert found is not None
            assert by_name.setdefault(found.name.lower(), found) == found


class TestBotMatcher:
    def test_known_bots_win_over_the_list(self) -> None:
        matcher = BotMatcher(ENTRIES)
        found = matcher.match(GPTBOT)
        assert found == BotInfo("GPTBot", BotCategory.ai_crawler, found.url if found else None)

    def test_the_most_specific_list_entry_wins(self) -> None:
        entries = [
            CrawlerEntry(0, "Crawl", "Crawl", "https://a.test", ("seo",), ()),
            CrawlerEntry(1, "ZzCrawler/", "ZzCrawler", "https://b.test", ("monitoring",), ()),
        ]
        found = BotMatcher(entries).match("ZzCrawler/1.0")
        assert found == BotInfo("ZzCrawler", BotCategory.monitoring, "https://b.test")

    def test_no_match_is_none(self) -> None:
        assert BotMatcher(ENTRIES).match("Mozilla/5.0 (X11; Linux x86_64)") is None

    def test_named_reuses_a_known_bot(self) -> None:
        matcher = BotMatcher(ENTRIES)
        assert matcher.named("googlebot").name == "Googlebot"
        assert matcher.named("ZzyxqBot") == BotInfo("ZzyxqBot", BotCategory.other, None)

    def test_every_known_pattern_is_used(self) -> None:
        names = {name for _, name, _ in KNOWN_BOTS}
        assert {"Googlebot", "GPTBot", "AhrefsBot", "UptimeRobot", "HeadlessChrome"} <= names


class TestCategoryFromTags:
    @pytest.mark.parametrize(
        ("tags", "category"),
        [
            (("search-engine",), BotCategory.search_engine),
            (("search-engine", "ai-crawler"), BotCategory.ai_crawler),
            (("social-preview",), BotCategory.social_media),
            (("feed-reader", "seo"), BotCategory.seo),
            (("monitoring",), BotCategory.monitoring),
            (("scanner",), BotCategory.scraper),
            (("browser-automation",), BotCategory.scraper),
            (("archiver",), BotCategory.other),
            ((), BotCategory.other),
        ],
    )
    def test_maps_tags_in_priority_order(
        self, tags: tuple[str, ...], category: BotCategory
    ) -> None:
        assert category_from_tags(tags) == category


class TestDeriveName:
    @pytest.mark.parametrize(
        ("pattern", "instances", "name"),
        [
            (r"Googlebot\/", ("Googlebot/2.1 (+http://www.google.com/bot.html)",), "Googlebot"),
            (r"S[eE][mM]rushBot", ("Mozilla/5.0 (compatible; SemrushBot/7~bl)",), "SemrushBot"),
            (
                r"AdsBot-Google([^-]|$)",
                ("AdsBot-Google (+http://www.google.com/adsbot.html)",),
                "AdsBot-Google",
            ),
            (r"Ahrefs(Bot|SiteAudit)", (), "AhrefsBot"),
            (r"[wW]get", (), "wget"),
            (r"^Seekbot", (), "Seekbot"),
            (r"SSL Labs \(https:\/\/www\.ssllabs\.com", (), "SSL Labs"),
        ],
    )
    def test_clean_names(self, pattern: str, instances: tuple[str, ...], name: str) -> None:
        assert derive_name(pattern, instances) == name

    def test_is_deterministic(self) -> None:
        assert [e.name for e in load_crawler_entries()] == [e.name for e in ENTRIES]

    def test_strip_regex_syntax(self) -> None:
        assert strip_regex_syntax(r"(sistrix|SISTRIX) [cC]rawler") == "sistrix crawler"
