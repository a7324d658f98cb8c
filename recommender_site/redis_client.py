"""The redis-py client behind the default cache, for the few commands Django's cache API has no word
for (pipelines, sorted sets): one round trip where the cache API would need several."""

from __future__ import annotations

from typing import Any

from django_redis import get_redis_connection


def redis_client() -> Any | None:
    """django-redis's client of the default cache (production), or None when that cache is another
    backend (the embedded default, tests): callers then use the cache API. Keys must be made with
    ``cache.make_key`` and values encoded with ``cache.client.encode``, as django-redis itself does,
    so that its readers find them."""
    try:
        return get_redis_connection("default", write=True)
    except NotImplementedError:  # django-redis's own answer for a cache that is not django-redis
        return None
