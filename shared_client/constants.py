"""Every tunable of the client in one place."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("uc-workflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"

DEFAULT_BASE_URL = "https://secure.ultracart.com/rest/v2"
API_VERSION = "2017-03-01"
USER_AGENT = f"uc-workflow/{VERSION}"

# Timeouts (seconds): UltraCart can be slow, but a hung request holds the one in-flight slot.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
WRITE_TIMEOUT = 30.0
POOL_TIMEOUT = 10.0

# Page sizes: the maximum UltraCart allows, so listing everything costs the fewest calls.
MAX_PAGE_SIZE_PEOPLE = 200
MAX_PAGE_SIZE_TASKS = 500

# UltraCart's documented budget per application: a leaky bucket, no fixed reset time.
DEFAULT_HOURLY_BUDGET = 1000
DEFAULT_DAILY_BUDGET = 10000

# Retries.
MAX_RETRIES = 4  # retries after the first attempt, for idempotent calls
MAX_RATE_LIMIT_RETRIES = 6  # 429s are waited out longer: they are UltraCart asking us to slow down
RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 20.0
RATE_LIMIT_BASE_DELAY = 2.0
RATE_LIMIT_MAX_DELAY = 60.0
RETRY_AFTER_MAX = 300.0  # never honour a Retry-After longer than this

# Caches.
PEOPLE_CACHE_SECONDS = 300.0
