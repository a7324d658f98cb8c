"""API throttles whose rates are read from settings on every request (DRF's stock classes copy them at
import, so tests could not change them), and that let requests through when the cache is down: a
dead Redis must not turn every API call into a 500. Brute-force protection is django-axes' job.

On Redis (django-redis) a throttle costs one round trip: the requests of the window are a sorted set
of timestamps, pruned, added to and counted in one MULTI/EXEC (DRF's own reads the history, then writes
it back: two round trips, and concurrent requests could overwrite each other's). The window is DRF's:
the requests of the last ``duration`` seconds; a refused request is not counted, as in DRF. Other
cache backends use DRF's implementation."""

from __future__ import annotations

import logging
import secrets
from typing import Any

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
        pipe = redis.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - duration)
        pipe.zadd(key, {entry: now})
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.expire(key, duration)
        _, _, count, oldest, _ = pipe.execute()
        self.now = now
        # DRF's wait() reads the window's requests, newest first; only their number and the oldest matter.
        self.history = [now] * (count - 1) + [oldest[0][1] if oldest else now]
        if count > self.num_requests:  # type: ignore[attr-defined]
            redis.zrem(key, entry)  # refused: not counted
            self.history.pop(0)
            return False
        return True


class AnonThrottle(_SettingsRateMixin, AnonRateThrottle):
    """Per client address, for requests without credentials (scope ``anon``)."""


class UserThrottle(_SettingsRateMixin, UserRateThrottle):
    """Per user, for authenticated requests (scope ``user``)."""


class TokenCreateThrottle(_SettingsRateMixin, SimpleRateThrottle):
    """The stricter scope ``token`` on creating tokens (sign-up and log-in), per client address."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
