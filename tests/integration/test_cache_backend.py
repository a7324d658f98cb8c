"""The production cache backend (django-redis) against the real Redis: one redis-py client per server,
reused across calls, with the cache API the code relies on."""

from __future__ import annotations

import threading
import warnings

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.integration


def test_the_backend_reuses_one_client_and_behaves_as_djangos(shared_cache):
    client = cache.client.get_client()
    assert cache.client.get_client() is client
    assert cache.client.get_client(write=False) is client  # one server: reads and writes share a client

    cache.set("a", {"x": 1}, 30)
    assert cache.add("a", "other", 30) is False
    cache.set_many({"b": b"\x00bytes", "c": (1, "two")}, 30)
    assert cache.get_many(["a", "b", "c", "missing"]) == {"a": {"x": 1}, "b": b"\x00bytes", "c": (1, "two")}
    cache.delete_many(["a", "b"])
    assert cache.get("a") is None
    assert cache.add("counter", 1, 30) is True
    assert cache.incr("counter") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no memcached key warnings: Redis takes any key
        long_key = "a key memcached would refuse " * 10
        cache.set(long_key, 1, 30)
        assert cache.get(long_key) == 1


def test_threads_share_nothing_they_should_not(shared_cache):
    """Django gives each thread its own backend instance; each works on its own client."""
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(200):
                cache.set(f"t{k}:{i}", i, 30)
                assert cache.get(f"t{k}:{i}") == i
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
