"""Every default the clients use, in one place.

Change a default here and both clients, the queue and the docs' examples follow.
"""

from __future__ import annotations

import httpx

DEFAULT_BASE_URL = "https://api.moesif.net/v1"
APPLICATION_ID_ENV = "MOESIF_APPLICATION_ID"
BASE_URL_ENV = "MOESIF_BASE_URL"

# Connecting should be quick; a large gzip batch may take a while to upload.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 3
# The events batch limit this project was specified against; the live API allows more.
DEFAULT_MAX_BATCH_BYTES = 12 * 1024 * 1024

# Backoff: 0.5 s, 1 s, 2 s, ... up to 8 s, each cut by up to a quarter at random so
# that many clients failing at once do not retry in step.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_JITTER = 0.25
# A server asking for a longer pause than this gets this; a caller is waiting.
MAX_RETRY_AFTER = 60.0

RETRYABLE_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})

GZIP_LEVEL = 1
"""The default `gzip_level`. On the seed-shaped events of the benchmarks level 1
compresses twice as fast as zlib's default (6) for about 20 % more bytes (3.5 % of the
JSON instead of 2.9 %); docs/performance.md has the measurements."""

# The async client sends up to this many sub-batches of one batch call at once.
MAX_CONCURRENT_SUB_BATCHES = 4

APPLICATION_ID_HEADER = "X-Moesif-Application-Id"
CONFIG_ETAG_HEADER = "X-Moesif-Config-ETag"
RULES_TAG_HEADER = "X-Moesif-Rules-Tag"

# Background queue: send whenever this many items of one kind wait, or every interval.
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_MAX_QUEUE_SIZE = 10_000
QUEUE_BATCH_ITEMS = 1_000
# How long the interpreter may wait at exit for queued items to go out.
DEFAULT_EXIT_TIMEOUT = 5.0
# At most one "queue full" warning per this many seconds; the rest are counted.
DROP_LOG_INTERVAL = 10.0
# A close waits this much past its deadline for the worker to report what it gave up
# on, before reporting the rest itself.
CLOSE_GRACE = 0.5

# The most of an answer's body a client reads, decompressed: a write's answer is a few
# bytes, an app's config can be large. A success over its cap is an APIError.
MAX_WRITE_ANSWER_BYTES = 1024 * 1024
MAX_READ_ANSWER_BYTES = 16 * 1024 * 1024

# The Collector API's own limits (apidocs, "Limits and Restrictions"): one event (an
# API call or a custom action) is at most "1MB" of JSON, a hard limit; we read it as
# 1,000,000 bytes, the smaller reading, so nothing we send is refused for its size.
# The server cuts a larger body to "450KB"; `truncate_bodies` replaces one by default
# past this many bytes, so both bodies of an event fit in it.
MAX_EVENT_BYTES = 1_000_000
TRUNCATED_BODY_BYTES = 450_000


# Hostile input: how deep an item's arrays and objects may nest, and the most digits
# of a number in metadata or a body. Kept in `_json_limits` (no httpx import), as
# `_wire` needs them on `import moesifapi`.
from ._json_limits import MAX_JSON_DEPTH as MAX_JSON_DEPTH  # noqa: E402
from ._json_limits import MAX_JSON_INT_DIGITS as MAX_JSON_INT_DIGITS  # noqa: E402
