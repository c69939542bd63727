"""WhoWhyWhen: report every request your API serves to your self-hosted WhoWhyWhen collector.

FastAPI / Starlette / any ASGI app::

    from whowhywhen_sdk import WhoWhyWhenMiddleware
    app.add_middleware(WhoWhyWhenMiddleware, api_key="www_...", url="http://whowhywhen:8001")

Flask / any WSGI app::

    from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware
    app.wsgi_app = WhoWhyWhenWSGIMiddleware(app.wsgi_app, api_key="www_...", url="http://...")

Django: add ``"whowhywhen_sdk.WhoWhyWhenDjangoMiddleware"`` to ``MIDDLEWARE`` and set
``WHOWHYWHEN = {"api_key": ..., "url": ...}`` in settings.

Importing this package starts nothing; the background sender starts with the first request.
"""

from ._client import flush, set_consumer, shutdown
from ._config import DEFAULT_EXCLUDE_PATHS, DEFAULT_TRUSTED_PROXIES
from ._version import __version__
from .asgi import WhoWhyWhenMiddleware
from .django import WhoWhyWhenDjangoMiddleware
from .wsgi import WhoWhyWhenWSGIMiddleware

__all__ = [
    "DEFAULT_EXCLUDE_PATHS",
    "DEFAULT_TRUSTED_PROXIES",
    "WhoWhyWhenDjangoMiddleware",
    "WhoWhyWhenMiddleware",
    "WhoWhyWhenWSGIMiddleware",
    "__version__",
    "flush",
    "set_consumer",
    "shutdown",
]
