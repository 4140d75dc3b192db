"""Banks and other lending institutions."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class BankKind(enum.StrEnum):
    STATE_OWNED = "state_owned"  # 国有大型商业银行
    JOINT_STOCK = "joint_stock"  # 股份制商业银行
    POLICY = "policy"  # 政策性银行
    CITY_COMMERCIAL = "city_commercial"  # 城市商业银行
    RURAL = "rural"  # 农村商业银行/农信社
    VILLAGE = "village"  # 村镇银行
    OTHER = "other"


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
