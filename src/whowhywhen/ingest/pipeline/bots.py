"""Bot detection: one RE2 pass over every known crawler pattern.

Two tables, each compiled into one :class:`~.regex_set.RegexSet`:

1. :data:`~.bot_categories.KNOWN_BOTS`, our names and categories for the well-known bots; the
   first that matches wins.
2. every ``crawler-user-agents`` pattern that is not an HTTP library; when several match, the
   longest (most specific) pattern wins; its tags give the category.

Names are canonical: a list entry whose derived name equals (ignoring case) one already taken, by
a known bot or an earlier entry, gets that bot's :class:`BotInfo`, so one name never carries two
categories or URLs.
"""

import re
from collections.abc import Sequence

from whowhywhen.ingest.pipeline.bot_categories import KNOWN_BOTS, category_from_tags
from whowhywhen.ingest.pipeline.crawler_list import CrawlerEntry
from whowhywhen.ingest.pipeline.events import BotInfo
from whowhywhen.ingest.pipeline.regex_set import RegexSet
from whowhywhen.models.enums import BotCategory

MAX_BOT_NAME_LENGTH = 200


class BotMatcher:
    """``match(user_agent)`` → :class:`BotInfo` or ``None``; build once per process."""

    __slots__ = (
        "_by_name",
        "_crawler_infos",
        "_crawler_rank",
        "_crawlers",
        "_known",
        "_known_infos",
    )

    def __init__(self, entries: Sequence[CrawlerEntry]) -> None:
        crawlers = [e for e in entries if not e.is_library]
        self._by_name: dict[str, BotInfo] = {}
        self._known = RegexSet((pattern for pattern, _, _ in KNOWN_BOTS), case_sensitive=False)
        self._known_infos: list[BotInfo] = []
        for pattern, name, category in KNOWN_BOTS:
            info = self._by_name.get(name.lower())
            if info is None:
                info = BotInfo(name, category, _url_for_known(pattern, name, crawlers))
                self._by_name[name.lower()] = info
            self._known_infos.append(info)
        self._crawlers = RegexSet(e.pattern for e in crawlers)
        self._crawler_infos: list[BotInfo] = []
        self._crawler_rank: list[tuple[int, int]] = []
        for entry in crawlers:
            info = self._by_name.get(entry.name.lower())
            if info is None:
                info = BotInfo(entry.name, category_from_tags(entry.tags), entry.url)
                self._by_name[entry.name.lower()] = info
            self._crawler_infos.append(info)
            self._crawler_rank.append((len(entry.pattern), -entry.index))

    def match(self, user_agent: str) -> BotInfo | None:
        """The bot that sent ``user_agent``, if any (libraries are not bots)."""
        known = self._known.first(user_agent)
        if known is not None:
            return self._known_infos[known]
        found = self._crawlers.matches(user_agent)
        if not found:
            return None
        best = max(found, key=self._crawler_rank.__getitem__)
        return self._crawler_infos[best]

    def named(self, name: str) -> BotInfo:
        """The bot called ``name`` (ignoring case), or a new one of category ``other``."""
        name = name[:MAX_BOT_NAME_LENGTH]
        return self._by_name.get(name.lower()) or BotInfo(name, BotCategory.other, None)


def _url_for_known(pattern: str, name: str, crawlers: Sequence[CrawlerEntry]) -> str | None:
    """The list's URL for one of our known bots: the entry of the same name, else the first entry
    with an example that our pattern matches."""
    regex = re.compile(pattern, re.IGNORECASE)
    for entry in crawlers:
        if entry.name.lower() == name.lower() and entry.url:
            return entry.url
    for entry in crawlers:
        if entry.url and any(regex.search(instance) for instance in entry.instances):
            return entry.url
    return None
