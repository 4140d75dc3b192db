"""Imports every model module of every package, so ``Base.metadata`` is complete
(for Alembic and tests)."""

from authz import models as authz
from credit import models as credit
from finance.core import outbox
from finance.core.db import Base
from finance.demands import models as demands
from finance.enterprises import models as enterprises
from finance.govdata import models as govdata
from finance.ingestion import models as ingestion
from finance.institutions import models as institutions
from finance.lending import models as lending
from products import models as products

__all__ = [
    "Base",
    "authz",
    "credit",
    "demands",
    "enterprises",
    "govdata",
    "ingestion",
    "institutions",
    "lending",
    "outbox",
    "products",
]
