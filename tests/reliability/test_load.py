"""50 members rating, un-rating and reading their picks at once, for a bounded time, against gunicorn
with the production settings, PostgreSQL, Redis and a refresh worker, on loopback: no rating lost or
duplicated, movie statistics exact afterwards, no 5xx, and no pick is ever a movie the member has
rated. Logins stay out (tokens are made directly): password hashing would only measure PBKDF2.

`make soak` runs the long variant (RELIABILITY_SOAK_SECONDS, default 120 s)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import pytest

from .support import Client, member_tokens, movie_stats_exact, rows, run_members

pytestmark = pytest.mark.integration

MEMBERS = 50


def _load(stack, seconds: float) -> None:
    clusters = stack.template["clusters"]
    movies = [m for cluster in clusters.values() for m in cluster]
    members = member_tokens(stack.env, MEMBERS)
    base = stack.web(workers=2, threads=8)
    stack.worker("default", "default")
    expected: dict[int, dict[int, float]] = {m["id"]: {} for m in members}
    statuses: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def member(i: int) -> None:
        me, mine = members[i], expected[members[i]["id"]]
        api = Client(base, token=me["token"])
        rng = random.Random(i)
        while time.monotonic() < stop_at:
            movie = rng.choice(movies)
            if mine.get(movie) is not None and rng.random() < 0.15:
                response = api.request("DELETE", f"/api/v1/me/ratings/{movie}/")
                if response.status_code == 204:
                    del mine[movie]
            else:
                value = rng.randrange(1, 11) / 2
                response = api.request("PUT", f"/api/v1/me/ratings/{movie}/", json={"value": value})
                if response.status_code == (200 if movie in mine else 201):
                    mine[movie] = value
            picks = api.request("GET", "/api/v1/me/recommendations/?n=10")
            with lock:
                statuses[(str(response.request.method), response.status_code)] += 1
                statuses[("GET", picks.status_code)] += 1
                if response.status_code not in (200, 201, 204):
                    problems.append(
                        f"{response.request.method} {movie}: {response.status_code} {response.text[:200]}"
                    )
                if picks.status_code != 200:
                    problems.append(f"picks: {picks.status_code} {picks.text[:200]}")
                else:
                    shown = {item["movie"]["id"] for item in picks.json()["items"]}
                    if shown & set(mine):
                        problems.append(
                            f"member {me['id']} was recommended movies they rated: {shown & set(mine)}"
                        )

    errors = run_members(MEMBERS, member, join_timeout=seconds + 120)
    assert errors == [], errors[:3]
    assert problems == [], problems[:10]
    writes = sum(n for (method, _), n in statuses.items() if method != "GET")
    assert writes >= MEMBERS, statuses

    stored: dict[int, dict[int, float]] = {m["id"]: {} for m in members}
    for user, movie, value in rows(
        stack.database_url,
        "SELECT user_id, movie_id, value FROM ratings_rating WHERE user_id = ANY(%s)",
        ([m["id"] for m in members],),
    ):
        stored[user][movie] = value
    assert stored == expected  # nothing lost, nothing extra (the unique constraint rules out duplicates)
    assert movie_stats_exact(stack.database_url) == []


def test_fifty_members_rating_and_reading_picks_at_once_lose_nothing(stack):
    _load(stack, seconds=float(os.environ.get("RELIABILITY_LOAD_SECONDS", "20")))


@pytest.mark.slow
def test_fifty_members_soak(stack):
    _load(stack, seconds=float(os.environ.get("RELIABILITY_SOAK_SECONDS", "120")))
