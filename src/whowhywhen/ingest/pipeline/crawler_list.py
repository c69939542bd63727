"""The ``crawler-user-agents`` data, typed, with a clean name derived for every entry.

Each entry of the list has a regex ``pattern``, example ``instances``, ``tags`` and often a
``url``, but no name. The name is the text the pattern matches in the entry's first example
(``Googlebot\\/`` matches ``Googlebot/`` in ``Googlebot/2.1 (+http://…)``: name ``Googlebot``),
trimmed of punctuation; when that is unusable (no example, a URL, a long stretch of text) it is
the pattern with its regex syntax stripped. Names depend only on the data, so the same entry always
gives the same name.
"""

import re
from dataclasses import dataclass

import crawleruseragents

from whowhywhen.ingest.pipeline.bot_categories import CRAWLERS_TAGGED_AS_LIBRARIES, LIBRARY_TAG

MAX_NAME_LENGTH = 60

_BOT_TOKEN = re.compile(r"\b[A-Za-z][\w\-]*(?:bot|crawler|spider)\b", re.IGNORECASE)
_LOCATION = re.compile(r"://|^www\.|\.[a-z]{2,}/", re.IGNORECASE)
_SYNTAX_OR_ESCAPE = re.compile(r"\\(.)|[()^$*+?{}\[\]]")
_VERSION = re.compile(r"/(?:\d[\w.]*)?(?=\s|$)")
_TRIM = " \t/;:,+()[]{}<>\"'-_.!?^$|\\"


@dataclass(frozen=True, slots=True)
class CrawlerEntry:
    index: int
    """Position in the package's list."""
    pattern: str
    name: str
    url: str | None
    tags: tuple[str, ...]
    instances: tuple[str, ...]

    @property
    def is_library(self) -> bool:
        """An HTTP client library (curl, requests, okhttp), not a bot, for an API product."""
        return LIBRARY_TAG in self.tags and self.pattern not in CRAWLERS_TAGGED_AS_LIBRARIES


def load_crawler_entries() -> list[CrawlerEntry]:
    """Every entry of the installed ``crawler-user-agents`` list, in its order."""
    entries: list[CrawlerEntry] = []
    raw_entries: list[dict[str, object]] = crawleruseragents.CRAWLER_USER_AGENTS_DATA
    for index, raw in enumerate(raw_entries):
        pattern = str(raw["pattern"])
        instances = tuple(str(i) for i in _as_list(raw.get("instances")))
        url = raw.get("url")
        entries.append(
            CrawlerEntry(
                index=index,
                pattern=pattern,
                name=derive_name(pattern, instances),
                url=url if isinstance(url, str) and url else None,
                tags=tuple(str(t) for t in _as_list(raw.get("tags"))),
                instances=instances,
            )
        )
    return entries


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def derive_name(pattern: str, instances: tuple[str, ...] = ()) -> str:
    """A human name for a crawler pattern (see the module docstring)."""
    for instance in instances[:1]:
        try:
            found = re.search(pattern, instance)
        except re.error:
            break
        if found is None:
            continue
        name = _clean(found.group(0))
        if _looks_like_location(name):
            token = _BOT_TOKEN.search(instance)
            if token is not None:
                name = _clean(token.group(0))
        if _usable(name) and not _looks_like_location(name):
            return name
    name = _clean(strip_regex_syntax(pattern))
    return name[:MAX_NAME_LENGTH] if name else pattern[:MAX_NAME_LENGTH]


def strip_regex_syntax(pattern: str) -> str:
    """Best-effort literal text of a simple pattern: ``S[eE][mM]rushBot`` → ``SemrushBot``."""
    text = re.sub(r"\[\\s\\S\][*+?]?|\.\*|\\d[*+?]?", " ", pattern)
    text = re.sub(r"\(\^\|\s*\)|\([^()|]*\|\$\)|\(\[\^[^\]]*\]\|\$\)", "", text)
    text = re.sub(r"\[([^\]\\^])[^\]]*\]", r"\1", text)  # [wW] → w
    text = re.sub(r"\((?:\?:)?([^()|]*)\|[^()]*\)", r"\1", text)  # (Bot|Audit) → Bot
    text = text.split("|")[0]
    return _SYNTAX_OR_ESCAPE.sub(lambda m: m.group(1) or "", text)  # "\\(" stays "(", "(" goes


def _clean(name: str) -> str:
    name = name.split(" (", 1)[0]  # "SSL Labs (https://…" → "SSL Labs"
    name = _VERSION.sub("", " ".join(name.split()).strip(_TRIM))  # "Feed/1.2 x" → "Feed x"
    return name.strip(_TRIM)


def _looks_like_location(name: str) -> bool:
    return _LOCATION.search(name) is not None


def _usable(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_LENGTH and any(c.isalpha() for c in name)
