"""HTTP client libraries: API clients, not bots.

For an API analytics product ``curl``, ``python-requests`` or ``okhttp`` are the normal callers of
the API, so they get ``client_type = library`` and the library's name, never a bot category (the
crawler list tags them ``http-library``; see :mod:`.bots`).

:data:`LIBRARIES` is ordered by priority: the first entry that matches names the library, so the
specific ones come before the generic ones (``GuzzleHttp/7 curl/8 PHP/8`` is Guzzle, not curl).
Patterns are RE2 syntax, matched case-insensitively anywhere in the user agent.
"""

from collections.abc import Sequence

from whowhywhen.ingest.pipeline.crawler_list import CrawlerEntry
from whowhywhen.ingest.pipeline.regex_set import RegexSet

LIBRARIES: tuple[tuple[str, str], ...] = (
    # API tools
    ("PostmanRuntime", r"PostmanRuntime/"),
    ("insomnia", r"^insomnia/"),
    ("HTTPie", r"^HTTPie/"),
    ("Paw", r"^Paw/"),
    ("Bruno", r"^bruno-runtime/"),
    # Python
    ("python-requests", r"python-requests/"),
    ("python-httpx", r"python-httpx/"),
    ("aiohttp", r"aiohttp/"),
    ("urllib3", r"(?:^|[\s(])(?:python-)?urllib3/"),
    ("python-urllib", r"Python-urllib/"),
    ("aws-sdk", r"^(?:Boto3|Botocore|aws-cli|aws-sdk-[\w-]+)/"),
    ("google-api-client", r"^google-api-(?:python|go|java|nodejs)-client/"),
    # JVM
    ("okhttp", r"okhttp/"),
    ("Apache-HttpClient", r"Apache-HttpClient/"),
    ("AsyncHttpClient", r"^AHC/|AsyncHttpClient/"),
    ("Jersey", r"^Jersey/"),
    ("Jetty", r"^Jetty/"),
    ("unirest", r"^unirest-"),
    ("Reactor Netty", r"^ReactorNetty/|^Reactor Netty/"),
    ("Vert.x-WebClient", r"^Vert\.x-WebClient/"),
    ("Ktor", r"^Ktor client"),
    ("Java", r"^Java/|^Java-http-client/"),
    # Go
    ("go-resty", r"go-resty/"),
    ("Go-http-client", r"^Go-http-client/"),
    ("grpc", r"^grpc-[a-z-]+/"),
    # JavaScript
    ("axios", r"^axios/"),
    ("node-fetch", r"^node-fetch"),
    ("undici", r"^undici"),
    ("got", r"^got(?:/|\s\()"),
    ("superagent", r"^node-superagent/"),
    ("ky", r"^ky/"),
    ("node", r"^node$"),
    ("Deno", r"^Deno/"),
    ("Bun", r"^Bun/"),
    # PHP
    ("Guzzle", r"GuzzleHttp/"),
    ("Symfony HttpClient", r"^Symfony HttpClient"),
    ("PHP-Curl-Class", r"^PHP-Curl-Class/"),
    # Perl
    ("libwww-perl", r"libwww-perl/|^lwp-"),
    ("Mechanize", r"Mechanize/"),
    # Ruby
    ("Faraday", r"^Faraday v"),
    ("rest-client", r"^rest-client/"),
    ("http.rb", r"^http\.rb/"),
    ("Typhoeus", r"^Typhoeus"),
    ("Ruby", r"^Ruby(?:/|$)"),
    # Mobile and .NET
    ("Dart", r"^Dart/"),
    ("Alamofire", r"Alamofire/"),
    ("RestSharp", r"^RestSharp/"),
    ("Flurl", r"^Flurl/"),
    ("WinHttp", r"^WinHttp"),
    ("PowerShell", r"PowerShell/"),
    # Rust
    ("reqwest", r"^reqwest/"),
    ("ureq", r"^ureq/"),
    ("hyper", r"^hyper/"),
    # Command line
    ("Wget", r"^Wget(?:/|$)"),
    ("curl", r"^curl(?:/|$)|(?:^|\s)(?:lib)?curl/"),
)


class LibraryMatcher:
    """``match(user_agent)`` → library name or ``None``: :data:`LIBRARIES` first, then the
    crawler-list entries tagged ``http-library`` (named after their pattern)."""

    __slots__ = ("_listed", "_listed_names", "_ours")

    def __init__(self, entries: Sequence[CrawlerEntry]) -> None:
        self._ours = RegexSet((pattern for _, pattern in LIBRARIES), case_sensitive=False)
        libraries = [e for e in entries if e.is_library]
        self._listed = RegexSet(e.pattern for e in libraries)
        self._listed_names = [e.name for e in libraries]

    def match(self, user_agent: str) -> str | None:
        ours = self._ours.first(user_agent)
        if ours is not None:
            return LIBRARIES[ours][0]
        listed = self._listed.first(user_agent)
        return None if listed is None else self._listed_names[listed]
