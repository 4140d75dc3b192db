"""Point-in-time credit features from the government data tables.

- ``catalogue``: the features, their meaning and direction, the windows;
- ``inputs``: what the computation takes in and which tables and columns it comes from;
- ``series``: the monthly measures stored packed per enterprise and category, kept
  current by ingestion;
- ``days``: dates as day and month numbers, computed by the database;
- ``read``: reading the series and the other rows through SQLAlchemy, for one enterprise
  or many;
- ``compute``: the features from the inputs (numpy, any number of requests);
- ``service``: ``batch_features`` and ``enterprise_features``, one computation for both.
"""

from credit.features.catalogue import (
    APPLICATION_FEATURES,
    BY_NAME,
    CATEGORICAL,
    DAYS_12M,
    DAYS_24M,
    FEATURE_NAMES,
    FEATURES,
    MONTHS,
    REVENUE_FLOOR_YUAN,
    Feature,
)
from credit.features.service import (
    FeatureColumns,
    batch_features,
    enterprise_features,
    feature_columns,
    feature_frame,
)

__all__ = [
    "APPLICATION_FEATURES",
    "BY_NAME",
    "CATEGORICAL",
    "DAYS_12M",
    "DAYS_24M",
    "FEATURES",
    "FEATURE_NAMES",
    "MONTHS",
    "REVENUE_FLOOR_YUAN",
    "Feature",
    "FeatureColumns",
    "batch_features",
    "enterprise_features",
    "feature_columns",
    "feature_frame",
]
