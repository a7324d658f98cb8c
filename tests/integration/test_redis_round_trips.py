"""What runs as one Redis round trip on the production backend (django-redis) behaves as the generic
versions do: the API throttle's window, and a rating's after-commit cache work."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from recommendations import caches
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _rates(**overrides: str) -> dict[str, Any]:
    from django.conf import settings

    current: dict[str, Any] = settings.REST_FRAMEWORK
    return {**current, "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **overrides}}


def test_the_user_throttle_on_redis_counts_a_window_and_not_refused_requests(shared_cache):
    member: User = UserFactory.create()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(member)[1]}")
    with override_settings(REST_FRAMEWORK=_rates(user="3/min")):
        assert [client.get("/api/v1/auth/tokens/").status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get("/api/v1/auth/tokens/")
        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= 60
        assert client.get("/api/v1/auth/tokens/").status_code == 429
        redis = cache.client.get_client()  # type: ignore[attr-defined]
        key = cache.make_key(f"throttle_user_{member.pk}:log")
        assert redis.zcard(key) == 3  # the refused requests were not counted
        assert 0 < redis.ttl(key) <= 60
        # the window slides: once the oldest request is older than a minute, one more is allowed
        oldest = redis.zrange(key, 0, 0)[0]
        redis.zadd(key, {oldest: 0})
        assert client.get("/api/v1/auth/tokens/").status_code == 200
        assert client.get("/api/v1/auth/tokens/").status_code == 429
    # another member has a window of their own
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(UserFactory.create())[1]}")
    with override_settings(REST_FRAMEWORK=_rates(user="3/min")):
        assert other.get("/api/v1/auth/tokens/").status_code == 200


def test_a_change_drops_the_members_answers_and_marks_one_refresh_in_one_round_trip(shared_cache):
    member: User = UserFactory.create()
    digests = [AuthToken.objects.create(member)[0].digest for _ in range(2)]
    stranger = AuthToken.objects.create(UserFactory.create())[0].digest
    auth_keys = [f"recs:auth:v1:{d}" for d in [*digests, stranger]]
    cache.set_many(dict.fromkeys(auth_keys, (1, "generation")), 60)
    caches.refresh_pending_clear()

    assert caches.member_changed(user_id=member.pk, refresh_mark_seconds=60) is True  # enqueue one
    assert cache.get_many(auth_keys) == {auth_keys[2]: (1, "generation")}  # only the member's tokens
    assert caches.member_changed(user_id=member.pk, refresh_mark_seconds=60) is False  # already pending
    assert caches.refresh_pending_mark(seconds=60) is False  # the generic API sees the same mark
    caches.refresh_pending_clear()
    assert caches.member_changed(user_id=UserFactory.create().pk, refresh_mark_seconds=60) is True
