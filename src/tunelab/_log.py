"""The library logger. tunelab never configures logging at import time."""

from __future__ import annotations

import logging

logger = logging.getLogger("tunelab")
