"""HyperLogLog registers of client IPs, so unique IPs over any range merge without raw rows."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime, batch_project_id, covering_primary_key, project_fk


class UniqueIpHour(SQLModel, table=True):
    """One HyperLogLog register (max leading-zero rank) per project, UTC hour and slot."""

    __tablename__ = "unique_ip_registers_hour"
    __table_args__ = (covering_primary_key("project_id", "bucket", "slot", include=["value"]),)

    project_id: int = Field(sa_column=batch_project_id())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    slot: int = Field(primary_key=True)
    value: int


class UniqueIpDay(SQLModel, table=True):
    __tablename__ = "unique_ip_registers_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    slot: int = Field(primary_key=True)
    value: int
