"""Every table; importing this package registers them all on the metadata."""

from sqlmodel import SQLModel

from whowhywhen.models.api_key import ApiKey
from whowhywhen.models.auth_session import AuthSession, OneTimeToken, RefreshToken
from whowhywhen.models.base import metadata
from whowhywhen.models.bot import Bot
from whowhywhen.models.dimension_rollup import (
    BotRollupDay,
    BotRollupHour,
    DimensionRollupDay,
    DimensionRollupHour,
    DimensionTotalDay,
)
from whowhywhen.models.endpoint import Endpoint, ProjectBot
from whowhywhen.models.invitation import ProjectInvitation
from whowhywhen.models.oauth_account import OAuthAccount
from whowhywhen.models.project import Project, ProjectMember
from whowhywhen.models.request_log import IngestBatch, RequestLog
from whowhywhen.models.rollup import IngestOutcome, LatencyHistogramMinute, RollupMinute
from whowhywhen.models.rollup_levels import (
    LatencyHistogramDay,
    LatencyHistogramEndpointDay,
    LatencyHistogramHour,
    LatencyHistogramProjectDay,
    LatencyHistogramProjectHour,
    RollupDay,
    RollupHour,
    RollupProjectDay,
    RollupProjectHour,
)
from whowhywhen.models.two_factor import RecoveryCode, UserTotp
from whowhywhen.models.unique_ip import UniqueIpDay, UniqueIpHour
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
__all__ += [
    "AuthSession",
    "OAuthAccount",
    "OneTimeToken",
    "ProjectInvitation",
    "RecoveryCode",
    "RefreshToken",
    "UserTotp",
]
__all__ += [
    "BATCH_TABLES",
    "BotRollupDay",
    "BotRollupHour",
    "DimensionRollupDay",
    "DimensionRollupHour",
    "DimensionTotalDay",
    "LatencyHistogramDay",
    "LatencyHistogramEndpointDay",
    "LatencyHistogramHour",
    "LatencyHistogramProjectDay",
    "LatencyHistogramProjectHour",
    "RollupDay",
    "RollupHour",
    "RollupProjectDay",
    "RollupProjectHour",
    "UniqueIpDay",
    "UniqueIpHour",
]

#: The tables whose `project_id` has no foreign key (`base.batch_project_id`): deleting a
#: project deletes their rows explicitly.
BATCH_TABLES: tuple[type[SQLModel], ...] = (
    RequestLog,
    RollupMinute,
    LatencyHistogramMinute,
    DimensionRollupHour,
    BotRollupHour,
    UniqueIpHour,
)
