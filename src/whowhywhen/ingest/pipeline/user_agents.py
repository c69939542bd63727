"""User-agent classification: browser, OS, device, library and bot, cached per distinct string.

:class:`UserAgentClassifier` holds everything expensive: the ua-parser resolver (the Rust
``ua-parser-rs`` accelerator, ~10 µs per string), the library and bot matchers (RE2 sets) and two
bounded LRU caches keyed by the raw string. A stream of events uses a few thousand distinct user
agents, so nearly every event is a cache hit of well under a microsecond.

Order of decisions for one string:

1. :meth:`UserAgentClassifier.parse` (the ``user_agent`` step): ua-parser's browser, OS and
   device; an HTTP library makes it ``client_type = library``; a ``Mozilla/``-style string that
   ua-parser recognises is a ``browser``; anything else is ``other``.
2. :meth:`UserAgentClassifier.classify` (the ``bot`` step): a crawler-list or known-bot match
   makes it a bot, even with a library inside (``W3C-checklink libwww-perl/6``); failing that,
   ua-parser's ``Spider`` device does, unless the string is a library (ua-parser calls ``Java/17``
   a spider).
"""

import dataclasses
import functools
import re
from typing import Protocol

from ua_parser import Domain, load_lazy_builtins
from ua_parser.core import PartialResult
from ua_parser.regex import Resolver as RustResolver

from whowhywhen.ingest.pipeline.bots import BotMatcher
from whowhywhen.ingest.pipeline.crawler_list import load_crawler_entries
from whowhywhen.ingest.pipeline.events import EMPTY_USER_AGENT, UserAgentInfo
from whowhywhen.ingest.pipeline.libraries import LibraryMatcher
from whowhywhen.models.enums import ClientType, DeviceType

DEFAULT_CACHE_SIZE = 20_000
MAX_NAME_LENGTH = 200
MAX_VERSION_LENGTH = 100

SPIDER_DEVICE = "Spider"

_UNKNOWN = "Other"  # ua-parser's family when nothing matched
_BROWSER_PREFIXES = ("Mozilla/", "Opera/")
_TV_OR_CONSOLE = re.compile(
    r"SMART-TV|SmartTV|Smart TV|\bGoogleTV|AppleTV|\bCrKey\b|\bRoku\b|BRAVIA|Web0S|HbbTV|"
    r"PlayStation|Xbox|Nintendo|\bAFT[A-Z]"
)
_TABLET = re.compile(
    r"iPad|Tablet(?! PC)|\bTab\b|Kindle|PlayBook|\bSilk/(?!.*Mobile)", re.IGNORECASE
)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|\bBB10\b|Opera Mini|KaiOS")
_PC_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Kubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "CentOS",
        "SUSE",
        "openSUSE",
        "Mint",
        "Linux Mint",
        "Arch Linux",
        "Gentoo",
        "Mandriva",
        "Slackware",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
_MOBILE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_BOT_WORD = re.compile(r"bot|crawl|spider|scrap|fetch|archiv|index", re.IGNORECASE)
_BOT_TOKEN = re.compile(
    r"[A-Za-z][\w.\-]{0,60}?(?:bot|crawler|spider|scraper|indexer)", re.IGNORECASE
)


class UaParser(Protocol):
    """What we need of ua-parser: a resolver, ``resolver(ua, Domain.ALL)``."""

    def __call__(self, ua: str, domain: Domain, /) -> PartialResult: ...


def default_ua_parser() -> UaParser:
    """ua-parser 1.x's fastest resolver: the Rust accelerator over the bundled regexes."""
    return RustResolver(load_lazy_builtins())


class UserAgentClassifier:
    """Parse user agents and detect libraries and bots, each distinct string once.

    Expensive to build (~0.3 s: ua-parser's regexes and two RE2 sets over the crawler list); build
    one per process and share it between batches and threads (the caches are thread-safe).
    """

    __slots__ = ("_bots", "_classify", "_libraries", "_parse", "_parser")

    def __init__(
        self,
        *,
        parser: UaParser | None = None,
        bots: BotMatcher | None = None,
        libraries: LibraryMatcher | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if bots is None or libraries is None:
            entries = load_crawler_entries()
            bots = bots or BotMatcher(entries)
            libraries = libraries or LibraryMatcher(entries)
        self._parser = parser or default_ua_parser()
        self._bots = bots
        self._libraries = libraries
        self._parse = functools.lru_cache(maxsize=cache_size)(self._parse_uncached)
        self._classify = functools.lru_cache(maxsize=cache_size)(self._classify_uncached)

    def parse(self, user_agent: str) -> UserAgentInfo:
        """Browser, OS, device and library of ``user_agent``; no bot detection (``bot`` is None)."""
        return self._parse(user_agent)

    def classify(self, user_agent: str) -> UserAgentInfo:
        """The complete classification: :meth:`parse` plus bot detection."""
        return self._classify(user_agent)

    def cache_info(self) -> functools._CacheInfo:
        """Statistics of the cache of complete classifications."""
        return self._classify.cache_info()

    def _parse_uncached(self, user_agent: str) -> UserAgentInfo:
        if not user_agent:
            return EMPTY_USER_AGENT
        try:
            parsed = self._parser(user_agent, Domain.ALL)
        except Exception:  # a parser bug must not fail a batch: treat the string as unknown
            parsed = PartialResult(Domain.ALL, None, None, None, user_agent)
        ua, os, device = parsed.user_agent, parsed.os, parsed.device
        browser = _name(ua.family) if ua else None
        os_name = _name(os.family) if os else None
        device_name = _name(device.family) if device else None
        library = self._libraries.match(user_agent)
        if library is not None:
            client_type = ClientType.library
            device_type = DeviceType.other
            device_name = None  # ua-parser guesses phones and spiders for some libraries
        else:
            looks_like_browser = user_agent.startswith(_BROWSER_PREFIXES)
            is_browser = looks_like_browser and browser is not None and device_name != SPIDER_DEVICE
            client_type = ClientType.browser if is_browser else ClientType.other
            device_type = _device_type(user_agent, os_name, device_name)
        return UserAgentInfo(
            raw=user_agent,
            browser=browser,
            browser_version=_version(ua.major, ua.minor, ua.patch, ua.patch_minor) if ua else None,
            os=os_name,
            os_version=_version(os.major, os.minor, os.patch, os.patch_minor) if os else None,
            device=device_name,
            device_type=device_type,
            client_type=client_type,
            library=library,
        )

    def _classify_uncached(self, user_agent: str) -> UserAgentInfo:
        info = self.parse(user_agent)
        if not user_agent:
            return info
        bot = self._bots.match(user_agent)
        if (
            bot is None
            and info.device == SPIDER_DEVICE
            and info.client_type is not ClientType.library
        ):
            bot = self._bots.named(_spider_name(info))
        if bot is None:
            return info
        return dataclasses.replace(
            info, device_type=DeviceType.bot, client_type=ClientType.bot, library=None, bot=bot
        )


def _name(family: str) -> str | None:
    return None if family == _UNKNOWN or not family else family[:MAX_NAME_LENGTH]


def _version(*parts: str | None) -> str | None:
    present: list[str] = []
    for part in parts:
        if not part:
            break
        present.append(part)
    return ".".join(present)[:MAX_VERSION_LENGTH] if present else None


def _device_type(user_agent: str, os: str | None, device: str | None) -> DeviceType:
    if _TV_OR_CONSOLE.search(user_agent):
        return DeviceType.other
    if _TABLET.search(user_agent):
        return DeviceType.tablet
    if os == "Android":
        # Android browsers say "Mobile" on phones only; apps (okhttp, Dalvik) run mostly on phones.
        if user_agent.startswith(_BROWSER_PREFIXES) and "Mobile" not in user_agent:
            return DeviceType.tablet
        return DeviceType.mobile
    if device in _MOBILE_DEVICES or os == "iOS" or _MOBILE.search(user_agent):
        return DeviceType.mobile
    if os in _PC_OS:
        return DeviceType.pc
    return DeviceType.other


def _spider_name(info: UserAgentInfo) -> str:
    """Name of a bot only ua-parser recognised: its family when bot-like (``FooBot``), else the
    first bot-like token of the string, else whatever family ua-parser gave."""
    if info.browser and _BOT_WORD.search(info.browser):
        return info.browser
    token = _BOT_TOKEN.search(info.raw)
    if token is not None:
        return token.group(0)
    return info.browser or "Unknown bot"
