"""Settings, read from the environment and `.env` with the seed's variable names."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
TOTP_KEY_FILE = "totp_key"
GOOGLE_ISSUER = "https://accounts.google.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", validation_alias="WHOWHYWHEN_ENV"
    )
    data_dir: Path = Field(default=Path("data"), validation_alias="WHOWHYWHEN_DATA_DIR")
    database_url: str = Field(
        default="",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; empty means SQLite under the data directory.",
    )
    secret_key: str = Field(default="", validation_alias="SECRET_KEY")
    redis_url: str = Field(default="", validation_alias="REDIS_URL")

    google_client_id: str = Field(default="", validation_alias="GOOGLE_CLIENT_ID")
    google_client_secret: str = Field(default="", validation_alias="GOOGLE_CLIENT_SECRET")
    redirect_uri: str = Field(default="", validation_alias="REDIRECT_URI")
    vapid_private_key: str = Field(default="", validation_alias="VAPID_PRIVATE_KEY")
    vapid_public_key: str = Field(default="", validation_alias="VAPID_PUBLIC_KEY")
    email_host: str = Field(default="", validation_alias="EMAIL_HOST")
    email_port: int = Field(default=587, validation_alias="EMAIL_PORT")
    email_username: str = Field(default="", validation_alias="EMAIL_USERNAME")
    email_password: str = Field(default="", validation_alias="EMAIL_PASSWORD")
    email_from: str = Field(default="", validation_alias="EMAIL_FROM")
    admin_email: str = Field(default="", validation_alias="ADMIN_EMAIL")

    # Collector limits (RELIABILITY.md VAL-01, COL-04, COL-07, COL-11).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, validation_alias="INGEST_MAX_BODY_BYTES")
    max_single_body_bytes: int = Field(
        default=512 * 1024, validation_alias="INGEST_MAX_SINGLE_BODY_BYTES"
    )
    max_decompressed_bytes: int = Field(
        default=10 * 1024 * 1024, validation_alias="INGEST_MAX_DECOMPRESSED_BYTES"
    )
    max_batch_events: int = Field(default=1000, validation_alias="INGEST_MAX_BATCH_EVENTS")
    rate_limit_per_second: float = Field(default=1000.0, validation_alias="INGEST_RATE_PER_SECOND")
    rate_limit_burst: int = Field(default=5000, validation_alias="INGEST_RATE_BURST")
    max_inflight_requests: int = Field(default=64, validation_alias="INGEST_MAX_INFLIGHT")
    max_future_seconds: int = Field(default=60, validation_alias="INGEST_MAX_FUTURE_SECONDS")
    max_age_days: int = Field(default=7, validation_alias="INGEST_MAX_AGE_DAYS")
    api_key_cache_seconds: float = Field(default=30.0, validation_alias="API_KEY_CACHE_SECONDS")
    trusted_proxies: str = Field(default="127.0.0.1", validation_alias="TRUSTED_PROXIES")

    # Accounts and sessions (RELIABILITY.md AUTH-06..09, MFA-04, OAUTH-01, RESET-01, CFG-06).
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias="PUBLIC_URL",
        description="Where users reach the dashboard; used for links in emails.",
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=15, validation_alias="ACCESS_TOKEN_MINUTES"
    )
    session_idle_minutes: int = Field(default=30, ge=1, validation_alias="SESSION_IDLE_MINUTES")
    session_max_hours: int = Field(default=12, ge=1, validation_alias="SESSION_MAX_HOURS")
    cookie_secure: bool = Field(default=True, validation_alias="COOKIE_SECURE")
    cors_origins: str = Field(default="", validation_alias="CORS_ORIGINS")
    totp_encryption_key: str = Field(default="", validation_alias="TOTP_ENCRYPTION_KEY")
    oidc_issuer: str = Field(default=GOOGLE_ISSUER, validation_alias="OIDC_ISSUER")
    password_reset_minutes: int = Field(
        default=30, ge=1, le=60, validation_alias="PASSWORD_RESET_MINUTES"
    )
    invitation_days: int = Field(default=7, ge=1, le=7, validation_alias="INVITATION_DAYS")
    email_use_tls: bool = Field(default=False, validation_alias="EMAIL_USE_TLS")
    email_starttls: bool = Field(default=True, validation_alias="EMAIL_STARTTLS")
    email_timeout: float = Field(default=10.0, validation_alias="EMAIL_TIMEOUT")

    # Database timeouts (COL-05).
    db_pool_size: int = Field(default=10, validation_alias="DB_POOL_SIZE")
    db_pool_timeout: float = Field(default=2.0, validation_alias="DB_POOL_TIMEOUT")
    db_connect_timeout: float = Field(default=2.0, validation_alias="DB_CONNECT_TIMEOUT")
    db_statement_timeout_ms: int = Field(default=5000, validation_alias="DB_STATEMENT_TIMEOUT_MS")

    # Analytics (rollup compaction, raw-row windows, live tail, background schedule).
    rollup_minute_hours: int = Field(
        default=6,
        validation_alias="ROLLUP_MINUTE_HOURS",
        description="Minute rollups older than this are compacted into hours.",
    )
    rollup_hour_days: int = Field(
        default=8,
        validation_alias="ROLLUP_HOUR_DAYS",
        description="Hour rollups older than this are compacted into project-local days.",
    )
    analytics_raw_max_days: int = Field(
        default=31,
        validation_alias="ANALYTICS_RAW_MAX_DAYS",
        description="Longest range for stats filters only raw rows answer (ip, user_agent, q…).",
    )
    live_heartbeat_seconds: float = Field(default=15.0, validation_alias="LIVE_HEARTBEAT_SECONDS")
    compaction_interval_seconds: float = Field(
        default=300.0, validation_alias="COMPACTION_INTERVAL_SECONDS"
    )
    outcome_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias="OUTCOME_FLUSH_SECONDS",
        description="How often refused-request counts are written to ingest_outcomes.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, validation_alias="RETENTION_INTERVAL_SECONDS"
    )
    scheduler_enabled: bool = Field(
        default=True,
        validation_alias="SCHEDULER_ENABLED",
        description="Run scheduled tasks in process when REDIS_URL is empty.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'whowhywhen.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_secret_key(self) -> str:
        """The signing secret; generated once and kept in the data directory when unset."""
        if self.secret_key:
            return self.secret_key
        return read_or_create_secret(self.data_dir / SECRET_FILE)

    @property
    def resolved_totp_key(self) -> bytes:
        """The 256-bit AES-GCM key for TOTP secrets; never stored in the database (MFA-04)."""
        value = self.totp_encryption_key or read_or_create_secret(self.data_dir / TOTP_KEY_FILE)
        return hashlib.sha256(value.encode()).digest()

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret and self.oidc_issuer)

    def check_production(self) -> None:
        """Refuse insecure defaults in production mode, naming what to set."""
        if self.environment != "production":
            return
        problems = []
        if len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to at least 32 random characters")
        if len(self.totp_encryption_key) < 32:
            problems.append("TOTP_ENCRYPTION_KEY must be set to at least 32 random characters")
        if not self.cookie_secure:
            problems.append("COOKIE_SECURE must stay true in production (serve over HTTPS)")
        if not self.database_url:
            problems.append("DATABASE_URL must point at PostgreSQL in production")
        if problems:
            raise RuntimeError("; ".join(problems))


def read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
