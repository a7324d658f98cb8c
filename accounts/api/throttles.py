"""API throttles whose rates are read from settings on every request (DRF's stock classes copy them at
import, so tests could not change them), and that let requests through when the cache is down: a
dead Redis must not turn every API call into a 500. Brute-force protection is django-axes' job."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _SettingsRateMixin:
    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope)  # type: ignore[attr-defined]

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception:  # the cache backend's own errors (redis ConnectionError, DB errors, ...)
            logger.warning("Throttle cache unreachable; letting the request through", exc_info=True)
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
