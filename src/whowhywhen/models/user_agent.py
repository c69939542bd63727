import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UserAgent(SQLModel, table=True):
    """Each distinct user-agent string, parsed once and shared by all projects."""

    __tablename__ = "user_agents"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(
        sa_column=sa.Column(sa.String(64), nullable=False, unique=True),
        description="SHA-256 hex of the raw string",
    )
    raw: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    browser: str | None = Field(default=None, max_length=200)
    browser_version: str | None = Field(default=None, max_length=100)
    os: str | None = Field(default=None, max_length=200)
    os_version: str | None = Field(default=None, max_length=100)
    device: str | None = Field(default=None, max_length=200)
    device_type: str = Field(max_length=16)
    client_type: str = Field(max_length=16)
    library: str | None = Field(default=None, max_length=100)
    bot_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.ForeignKey("bots.id"), nullable=True)
    )
