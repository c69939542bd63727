"""Every table; importing this package registers them all on the metadata."""

from whowhywhen.models.api_key import ApiKey
from whowhywhen.models.base import metadata
from whowhywhen.models.bot import Bot
from whowhywhen.models.endpoint import Endpoint, ProjectBot
from whowhywhen.models.project import Project, ProjectMember
from whowhywhen.models.request_log import IngestBatch, RequestLog
from whowhywhen.models.rollup import IngestOutcome, LatencyHistogramMinute, RollupMinute
from whowhywhen.models.user import User
from whowhywhen.models.user_agent import UserAgent

__all__ = [
    "ApiKey",
    "Bot",
    "Endpoint",
    "IngestBatch",
    "IngestOutcome",
    "LatencyHistogramMinute",
    "Project",
    "ProjectBot",
    "ProjectMember",
    "RequestLog",
    "RollupMinute",
    "User",
    "UserAgent",
    "metadata",
]
