"""The client's address, believing X-Forwarded-For only as far as our own proxies wrote it.

One rule for everything that counts per address: DRF's throttles (``NUM_PROXIES``, which this mirrors),
django-axes' lockout (``AXES_CLIENT_IP_CALLABLE``) and the password-reset limit. With
``TRUSTED_PROXY_COUNT = 0`` (the default) the connection's own address counts and the header is
ignored, so a client cannot pick a new address per request.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote_addr = str(request.META.get("REMOTE_ADDR") or "")
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    # Each trusted proxy appends the address it was connected from; entries further left are the
    # client's own claims. The Nth from the right is what our outermost proxy saw.
    addresses = [part.strip() for part in str(forwarded).split(",")]
    return addresses[-min(proxies, len(addresses))] or remote_addr
