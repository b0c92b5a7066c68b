"""Health decisions shared across gateway replicas.

One replica's breaker opening or Retry-After cooldown is published to Redis as a key
per deployment whose value is the moment it ends; every replica reads those keys on
a short interval and applies them to its own ``Health``. Nothing here runs on the
request path: publishing happens on the rare events, in a background task, and a
Redis outage only means replicas fall back to learning health on their own.
"""

from tiergate.state.shared import SharedHealth

__all__ = ["SharedHealth"]
