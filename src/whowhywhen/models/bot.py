import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Bot(SQLModel, table=True):
    """A named crawler, shared by all projects."""

    __tablename__ = "bots"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    category: str = Field(max_length=32)
    url: str | None = Field(default=None, max_length=1000)
