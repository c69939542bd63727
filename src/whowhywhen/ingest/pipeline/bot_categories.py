"""Our own knowledge of bots: clean names and categories for the well-known ones.

The crawler list (``crawler-user-agents``) knows ~1,500 patterns but names none of them and tags
them loosely. :data:`KNOWN_BOTS` names the bots people look for on a dashboard and fixes their
category; it wins over the list. For the others the list's tags give the category
(:data:`TAG_CATEGORIES`, in priority order) and the pattern gives the name (see :mod:`.bots`).

Patterns are RE2 syntax, matched case-insensitively anywhere in the user agent, first match wins.
"""

from whowhywhen.models.enums import BotCategory

_SEARCH = BotCategory.search_engine
_AI = BotCategory.ai_crawler
_SEO = BotCategory.seo
_SOCIAL = BotCategory.social_media
_MONITORING = BotCategory.monitoring
_SCRAPER = BotCategory.scraper

KNOWN_BOTS: tuple[tuple[str, str, BotCategory], ...] = (
    # AI crawlers and assistants (before search engines: OAI-SearchBot is OpenAI's)
    (r"GPTBot", "GPTBot", _AI),
    (r"ChatGPT-User", "ChatGPT-User", _AI),
    (r"OAI-SearchBot", "OAI-SearchBot", _AI),
    (r"Claude-Web", "Claude-Web", _AI),
    (r"Claude-User", "Claude-User", _AI),
    (r"Claude-SearchBot", "Claude-SearchBot", _AI),
    (r"ClaudeBot", "ClaudeBot", _AI),
    (r"anthropic-ai", "anthropic-ai", _AI),
    (r"Perplexity-User", "Perplexity-User", _AI),
    (r"PerplexityBot", "PerplexityBot", _AI),
    (r"\bCCBot", "CCBot", _AI),
    (r"Google-Extended", "Google-Extended", _AI),
    (r"Bytespider", "Bytespider", _AI),
    (r"Amazonbot", "Amazonbot", _AI),
    (r"cohere-ai", "cohere-ai", _AI),
    (r"Diffbot", "Diffbot", _AI),
    (r"meta-externalagent", "meta-externalagent", _AI),
    (r"meta-externalfetcher", "meta-externalfetcher", _AI),
    (r"MistralAI-User", "MistralAI-User", _AI),
    # Search engines
    (r"Googlebot/", "Googlebot", _SEARCH),
    (r"bingbot", "Bingbot", _SEARCH),
    (r"YandexBot", "YandexBot", _SEARCH),
    (r"Baiduspider", "Baiduspider", _SEARCH),
    (r"DuckDuckBot", "DuckDuckBot", _SEARCH),
    (r"Applebot", "Applebot", _SEARCH),
    (r"Yahoo! Slurp", "Yahoo! Slurp", _SEARCH),
    (r"Sogou web spider", "Sogou web spider", _SEARCH),
    (r"SeznamBot", "SeznamBot", _SEARCH),
    (r"Qwantify|Qwantbot", "Qwantbot", _SEARCH),
    (r"PetalBot", "PetalBot", _SEARCH),
    # SEO tools
    (r"AhrefsBot", "AhrefsBot", _SEO),
    (r"AhrefsSiteAudit", "AhrefsSiteAudit", _SEO),
    (r"SemrushBot", "SemrushBot", _SEO),
    (r"MJ12bot", "MJ12bot", _SEO),
    (r"\bDotBot\b", "DotBot", _SEO),
    (r"rogerbot", "rogerbot", _SEO),
    (r"Screaming Frog", "Screaming Frog SEO Spider", _SEO),
    (r"serpstatbot", "serpstatbot", _SEO),
    (r"BLEXBot", "BLEXBot", _SEO),
    (r"DataForSeoBot", "DataForSeoBot", _SEO),
    # Social media link previews
    (r"facebookexternalhit|facebookcatalog|\bFacebot\b", "facebookexternalhit", _SOCIAL),
    (r"Twitterbot", "Twitterbot", _SOCIAL),
    (r"LinkedInBot", "LinkedInBot", _SOCIAL),
    (r"Slackbot|Slack-ImgProxy", "Slackbot", _SOCIAL),
    (r"Discordbot", "Discordbot", _SOCIAL),
    (r"TelegramBot", "TelegramBot", _SOCIAL),
    (r"^WhatsApp/", "WhatsApp", _SOCIAL),
    (r"Pinterest(?:bot)?/\d|pinterest\.com/bot", "Pinterestbot", _SOCIAL),
    (r"redditbot", "redditbot", _SOCIAL),
    (r"SkypeUriPreview", "SkypeUriPreview", _SOCIAL),
    (r"Iframely", "Iframely", _SOCIAL),
    # Monitoring and health checks
    (r"UptimeRobot", "UptimeRobot", _MONITORING),
    (r"Pingdom", "Pingdom", _MONITORING),
    (r"StatusCake", "StatusCake", _MONITORING),
    (r"Datadog.?Synthetics|DatadogSynthetics", "Datadog Synthetics", _MONITORING),
    (r"New ?Relic ?Synthetics|NewRelicPinger", "New Relic Synthetics", _MONITORING),
    (r"Site24x7", "Site24x7", _MONITORING),
    (r"Better ?Uptime", "Better Uptime", _MONITORING),
    (r"Checkly", "Checkly", _MONITORING),
    (r"kube-probe/", "kube-probe", _MONITORING),
    (r"ELB-HealthChecker/", "ELB-HealthChecker", _MONITORING),
    (r"^GoogleHC/", "GoogleHC", _MONITORING),
    (r"Consul Health Check", "Consul Health Check", _MONITORING),
    (r"Blackbox Exporter/", "Blackbox Exporter", _MONITORING),
    # Scrapers and headless browsers
    (r"HeadlessChrome", "HeadlessChrome", _SCRAPER),
    (r"PhantomJS", "PhantomJS", _SCRAPER),
    (r"Scrapy", "Scrapy", _SCRAPER),
    (r"\bcolly\b", "colly", _SCRAPER),
    (r"HTTrack", "HTTrack", _SCRAPER),
)

TAG_CATEGORIES: tuple[tuple[str, BotCategory], ...] = (
    ("ai-crawler", _AI),
    ("search-engine", _SEARCH),
    ("social-preview", _SOCIAL),
    ("seo", _SEO),
    ("monitoring", _MONITORING),
    ("scanner", _SCRAPER),
    ("browser-automation", _SCRAPER),
)
"""crawler-user-agents tags → our category; the first tag in this order that an entry has wins.
Other tags (advertising, feed-reader, archiver, academic) mean :attr:`BotCategory.other`."""

LIBRARY_TAG = "http-library"
"""Entries with this tag are HTTP client libraries, not bots (see :mod:`.libraries`)."""

CRAWLERS_TAGGED_AS_LIBRARIES = frozenset(
    {
        "Scrapy",
        "colly",
        "HTTrack",
        "crawler4j",
        "phpcrawl",
        "larbin",
        "SimpleCrawler",
        "GoParserBot",
        "rawweb-bot",
    }
)
"""Patterns the list tags ``http-library`` that are really crawling frameworks: these stay bots."""


def category_from_tags(tags: list[str] | tuple[str, ...]) -> BotCategory:
    for tag, category in TAG_CATEGORIES:
        if tag in tags:
            return category
    return BotCategory.other
