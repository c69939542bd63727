import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ingest.pipeline.helpers import (
    CHROME_ANDROID_PHONE,
    CHROME_ANDROID_TABLET,
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    GOOGLEBOT,
    SAFARI_IPAD,
    SAFARI_IPHONE,
    started,
)
from whowhywhen.ingest.pipeline import (
    PipelineContext,
    UserAgentClassifier,
    bot,
    user_agent,
)
from whowhywhen.ingest.pipeline.events import EMPTY_USER_AGENT
from whowhywhen.models.enums import BotCategory, ClientType, DeviceType

LIBRARIES = [
    ("curl/8.5.0", "curl"),
    ("curl", "curl"),
    ("python-requests/2.32.3", "python-requests"),
    ("python-httpx/0.27.0", "python-httpx"),
    ("Python/3.11 aiohttp/3.9.5", "aiohttp"),
    ("okhttp/4.12.0", "okhttp"),
    ("Go-http-client/2.0", "Go-http-client"),
    ("axios/1.7.2", "axios"),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch"),
    ("node-fetch", "node-fetch"),
    ("undici", "undici"),
    ("node", "node"),
    ("Apache-HttpClient/4.5.14 (Java/17.0.2)", "Apache-HttpClient"),
    ("Java/17.0.2", "Java"),
    ("Wget/1.21", "Wget"),
    ("Wget/1.21.4 (linux-gnu)", "Wget"),
    ("PostmanRuntime/7.39.0", "PostmanRuntime"),
    ("insomnia/2023.5.8", "insomnia"),
    ("libwww-perl/6.72", "libwww-perl"),
    ("GuzzleHttp/7.8.1 curl/8.4.0 PHP/8.2.12", "Guzzle"),
    ("Ruby", "Ruby"),
    ("Dart/3.4 (dart:io)", "Dart"),
    ("HTTPie/3.2.2", "HTTPie"),
    ("Python-urllib/3.11", "python-urllib"),
    ("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux", "aws-sdk"),
    ("WinHttp.WinHttpRequest.5", "WinHttp"),
    ("Jersey/2.25.1 (HttpUrlConnection 1.8.0_141)", "Jersey"),
    ("AnyEvent-HTTP/2.24", "AnyEvent"),
]


class TestParse:
    @pytest.mark.parametrize(
        ("raw", "browser", "os", "device_type"),
        [
            (CHROME_WINDOWS, "Chrome", "Windows", DeviceType.pc),
            (FIREFOX_LINUX, "Firefox", "Ubuntu", DeviceType.pc),
            (SAFARI_IPHONE, "Mobile Safari", "iOS", DeviceType.mobile),
            (SAFARI_IPAD, "Mobile Safari", "iOS", DeviceType.tablet),
            (CHROME_ANDROID_PHONE, "Chrome Mobile", "Android", DeviceType.mobile),
            (CHROME_ANDROID_TABLET, "Chrome", "Android", DeviceType.tablet),
        ],
    )
    def test_browsers(
        self,
        classifier: UserAgentClassifier,
        raw: str,
        browser: str,
        os: str,
        device_type: DeviceType,
    ) -> None:
        info = classifier.parse(raw)
        assert (info.browser, info.os, info.device_type) == (browser, os, device_type)
        assert info.client_type is ClientType.browser
        assert info.library is None
        assert info.bot is None

    def test_versions_and_device(self, classifier: UserAgentClassifier) -> None:
        info = classifier.parse(SAFARI_IPHONE)
        assert info.raw == SAFARI_IPHONE
        assert (info.browser_version, info.os_version, info.device) == ("17.5", "17.5", "iPhone")

    def test_unknown_parts_are_none(self, classifier: UserAgentClassifier) -> None:
        info = classifier.parse(CHROME_WINDOWS)
        assert info.device is None
        assert info.browser_version == "131.0.0.0"

    @pytest.mark.parametrize(("raw", "library"), LIBRARIES)
    def test_http_libraries_are_library_clients(
        self, classifier: UserAgentClassifier, raw: str, library: str
    ) -> None:
        info = classifier.parse(raw)
        assert info.client_type is ClientType.library
        assert info.library == library
        assert info.device_type is DeviceType.other
        assert info.device is None

    def test_empty_user_agent_is_other(self, classifier: UserAgentClassifier) -> None:
        assert classifier.parse("") == EMPTY_USER_AGENT
        assert EMPTY_USER_AGENT.client_type is ClientType.other

    @pytest.mark.parametrize(
        ("raw", "device_type"),
        [
            ("MyApp/1.2.3 CFNetwork/1496.0.7 Darwin/23.5.0", DeviceType.mobile),
            (
                "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/AP1A.240505.004)",
                DeviceType.mobile,
            ),
            ("SomethingCustom/1.0", DeviceType.other),
        ],
    )
    def test_apps_are_other_clients(
        self, classifier: UserAgentClassifier, raw: str, device_type: DeviceType
    ) -> None:
        info = classifier.parse(raw)
        assert info.client_type is ClientType.other
        assert info.device_type is device_type

    @pytest.mark.parametrize(
        "raw",
        [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
            "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "76.0.3809.146/6.0 TV Safari/537.36",
        ],
    )
    def test_tvs_and_consoles_are_other_devices(
        self, classifier: UserAgentClassifier, raw: str
    ) -> None:
        assert classifier.parse(raw).device_type is DeviceType.other

    def test_the_same_string_gives_the_same_object(self, classifier: UserAgentClassifier) -> None:
        assert classifier.parse(CHROME_WINDOWS) is classifier.parse(CHROME_WINDOWS)

    @given(raw=st.text(max_size=1024))
    def test_never_raises(self, classifier: UserAgentClassifier, raw: str) -> None:
        info = classifier.classify(raw)
        assert info.raw == raw
        assert (info.client_type is ClientType.bot) == (info.bot is not None)
        assert (info.client_type is ClientType.library) == (info.library is not None)


class TestClassify:
    def test_bots_get_bot_types_and_info(self, classifier: UserAgentClassifier) -> None:
        info = classifier.classify(GOOGLEBOT)
        assert info.client_type is ClientType.bot
        assert info.device_type is DeviceType.bot
        assert info.bot is not None
        assert info.bot.name == "Googlebot"

    def test_browsers_are_unchanged(self, classifier: UserAgentClassifier) -> None:
        assert classifier.classify(CHROME_WINDOWS) is classifier.parse(CHROME_WINDOWS)

    def test_a_bot_built_on_a_library_is_a_bot(self, classifier: UserAgentClassifier) -> None:
        info = classifier.classify("W3C-checklink/2.90 libwww-perl/5.64")
        assert info.client_type is ClientType.bot
        assert info.library is None
        assert info.bot is not None
        assert info.bot.category is BotCategory.monitoring

    def test_ua_parser_spiders_are_bots(self, classifier: UserAgentClassifier) -> None:
        info = classifier.classify("Mozilla/5.0 (compatible; ZzyxqBot/1.0; +http://zzyxq.test/)")
        assert info.bot is not None
        assert info.bot.name == "ZzyxqBot"
        assert info.bot.category is BotCategory.other

    def test_ua_parser_spider_libraries_stay_libraries(
        self, classifier: UserAgentClassifier
    ) -> None:
        assert classifier.classify("Java/17.0.2").client_type is ClientType.library

    def test_caches_each_string_once(self) -> None:
        classifier = UserAgentClassifier(cache_size=2)
        for _ in range(3):
            classifier.classify(GOOGLEBOT)
        info = classifier.cache_info()
        assert (info.hits, info.misses) == (2, 1)
        classifier.classify("a")
        classifier.classify("b")
        assert classifier.cache_info().currsize == 2


class TestUserAgentStep:
    def test_fills_the_parsed_user_agent_without_bot_detection(self, ctx: PipelineContext) -> None:
        event = started(user_agent=GOOGLEBOT)
        user_agent(event, ctx)
        assert event.ua.raw == GOOGLEBOT
        assert event.ua.browser == "Googlebot"
        assert event.ua.bot is None

    def test_absent_user_agent(self, ctx: PipelineContext) -> None:
        event = started(user_agent="")
        user_agent(event, ctx)
        assert event.ua.client_type is ClientType.other


class TestBotStep:
    def test_adds_the_bot(self, ctx: PipelineContext) -> None:
        event = started(user_agent=GOOGLEBOT)
        user_agent(event, ctx)
        bot(event, ctx)
        assert event.ua.bot is not None
        assert event.ua.bot.category is BotCategory.search_engine
        assert event.ua.client_type is ClientType.bot

    def test_leaves_browsers_alone(self, ctx: PipelineContext) -> None:
        event = started(user_agent=CHROME_WINDOWS)
        user_agent(event, ctx)
        parsed = event.ua
        bot(event, ctx)
        assert event.ua is parsed

    def test_libraries_are_not_bots(self, ctx: PipelineContext) -> None:
        event = started(user_agent="curl/8.5.0")
        user_agent(event, ctx)
        bot(event, ctx)
        assert event.ua.client_type is ClientType.library
        assert event.ua.bot is None
