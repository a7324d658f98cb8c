"""API throttles whose rates are read from settings on every request (DRF's stock classes copy them at
import, so tests could not change them), and that let requests through when the cache is down: a
dead Redis must not turn every API call into a 500. Brute-force protection is django-axes' job.

On Redis (django-redis) a throttle costs one round trip: the requests of the window are a sorted set
of timestamps, pruned, counted and (when the request is allowed) added to by one Lua script, atomic in
the server (DRF's own reads the history, then writes it back: two round trips, and concurrent requests
could overwrite each other's; the MULTI/EXEC this replaced sent six commands and parsed seven replies).
The window is DRF's: the requests of the last ``duration`` seconds; a refused request is not counted,
as in DRF. Other cache backends use DRF's implementation."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from recommender_site.redis_client import redis_client

logger = logging.getLogger(__name__)


class _SettingsRateMixin:
    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope)  # type: ignore[attr-defined]

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            redis = redis_client()  # DRF's throttle cache is the default cache
            if redis is not None and self.rate is not None:  # type: ignore[attr-defined]
                return self._allow_on_redis(request, view, redis)
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception:  # the cache backend's own errors (redis ConnectionError, DB errors, ...)
            logger.warning("Throttle cache unreachable; letting the request through", exc_info=True)
            return True

    def _allow_on_redis(self, request: Request, view: Any, redis: Any) -> bool:
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        now: float = self.timer()  # type: ignore[attr-defined]
        duration: int = self.duration  # type: ignore[attr-defined]
        key = self.cache.make_key(f"{self.key}:log")  # type: ignore[attr-defined]
        entry = f"{now:.6f}:{secrets.token_hex(4)}"
        limit: int = self.num_requests  # type: ignore[attr-defined]
        allowed, count, oldest = _window_script(redis)(
            keys=[key], args=[repr(now), duration, limit, entry], client=redis
        )
        self.now = now
        # DRF's wait() reads the window's requests, newest first; only their number and the oldest matter.
        self.history = [now] * (count - 1) + [float(oldest) if oldest else now]
        return bool(allowed)


#: The sliding window in one server-side step: prune what left it, count, add this request unless it is
#: refused, keep the key as long as the window. Returns {allowed, requests in the window, oldest score}.
_WINDOW_LUA = """
local key, now, duration, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
    redis.call('ZADD', key, now, ARGV[4])
    count = count + 1
    allowed = 1
end
redis.call('EXPIRE', key, duration)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {allowed, count, oldest[2] or false}
"""
_window: Script | None = None


def _window_script(redis: Any) -> Script:
    """The window script, registered once per process (redis-py runs it by its digest, loading it into
    a server that does not know it yet)."""
    global _window
    if _window is None:
        _window = redis.register_script(_WINDOW_LUA)
    return _window


class AnonThrottle(_SettingsRateMixin, AnonRateThrottle):
    """Per client address, for requests without credentials (scope ``anon``)."""


class UserThrottle(_SettingsRateMixin, UserRateThrottle):
    """Per user, for authenticated requests (scope ``user``)."""


class TokenCreateThrottle(_SettingsRateMixin, SimpleRateThrottle):
    """The stricter scope ``token`` on creating tokens (sign-up and log-in), per client address."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
