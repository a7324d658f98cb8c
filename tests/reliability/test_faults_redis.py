"""Redis (cache and broker) goes away while the site is under load: pages and the API keep answering
from the persisted lists and the database, ratings are saved, nothing answers 5xx; when Redis comes
back (with its append-only file, as docker-compose.yml runs it), work queued before the outage runs
and new work is queued again.

Redis is this test's own server (tests/reliability/support.py), so stopping it disturbs nobody.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import pytest
import requests

from recommendations.fields import unpack_ids

from .support import Client, Process, member_tokens, movie_stats_exact, rows, run_members, wait_for

pytestmark = pytest.mark.integration

MEMBERS = 6
READERS = 4


def _list_of(url: str, user_id: int, after: object = None) -> tuple[list[int], bool] | None:
    """The user's list for the active version (written after ``after``, a database time), if any."""
    found = rows(
        url,
        "SELECT l.movie_ids, l.folded_in FROM recommendations_recommendationlist l "
        "JOIN recommendations_modelversion v ON v.id = l.model_version_id "
        "WHERE l.user_id = %s AND v.is_active AND (%s::timestamptz IS NULL OR l.generated_at > %s::timestamptz)",
        (user_id, after, after),
    )
    return (unpack_ids(found[0][0]), bool(found[0][1])) if found else None


def test_a_redis_outage_under_load_degrades_gracefully_and_queued_work_resumes(stack):
    clusters = stack.template["clusters"]
    movies = [m for cluster in clusters.values() for m in cluster]
    members = member_tokens(stack.env, MEMBERS)
    # Dataset users have persisted lists from the trained model; give a few of them tokens to read them.
    readers = stack.script(
        f"""
from knox.models import AuthToken
from accounts.models import User
ids = {stack.template["users"]["Comedy"][:READERS]}
result = [{{"id": i, "token": AuthToken.objects.create(User.objects.get(pk=i))[1]}} for i in ids]
"""
    )
    base = stack.web()

    # Work queued before the outage: a rating enqueues a refresh, and no worker is running yet.
    early = members[0]
    early_movies = clusters["Drama"][:3]
    for movie in early_movies:
        put = Client(base, token=early["token"]).request(
            "PUT", f"/api/v1/me/ratings/{movie}/", json={"value": 5}
        )
        assert put.status_code == 201, put.text
    assert _list_of(stack.database_url, early["id"]) is None

    statuses: Counter[int] = Counter()
    sources: Counter[str] = Counter()
    problems: list[str] = []
    acknowledged: dict[tuple[int, int], float] = {}
    lock = threading.Lock()
    redis_down = threading.Event()
    stop_at = time.monotonic() + 16

    def note(response: requests.Response) -> None:
        with lock:
            statuses[response.status_code] += 1
            if response.status_code >= 400:
                problems.append(f"{response.request.method} {response.request.path_url}: {response.status_code} "
                                f"{response.text[:200]}")  # fmt: skip

    def load(i: int) -> None:
        visitor = Client(base)
        if i < MEMBERS - 1:  # members rate (each movie once, so acknowledgements are exact) and browse
            me = members[i + 1]
            api = Client(base, token=me["token"])
            for k, movie in enumerate(movies):
                if time.monotonic() > stop_at:
                    break
                value = 0.5 + (k + i) % 10 / 2
                put = api.request("PUT", f"/api/v1/me/ratings/{movie}/", json={"value": value})
                note(put)
                if put.status_code in (200, 201):
                    with lock:
                        acknowledged[(me["id"], movie)] = value
                note(api.request("GET", "/api/v1/me/recommendations/?n=5"))
                note(visitor.request("GET", "/movies/?q=story"))
                time.sleep(0.1)
        else:  # readers with persisted lists
            while time.monotonic() < stop_at:
                for reader in readers:
                    response = Client(base, token=reader["token"]).request(
                        "GET", "/api/v1/me/recommendations/?n=5"
                    )
                    note(response)
                    if response.status_code == 200:
                        with lock:
                            sources[
                                ("down:" if redis_down.is_set() else "up:") + response.json()["source"]
                            ] += 1
                note(visitor.request("GET", "/"))
                note(visitor.request("GET", f"/movies/{movies[0]}/"))
                time.sleep(0.1)

    def outage() -> None:
        time.sleep(3)
        stack.redis.stop()
        redis_down.set()
        time.sleep(6)
        stack.redis.start()
        redis_down.clear()

    errors = run_members(MEMBERS, load, during=outage)
    assert errors == [], errors[:3]
    assert problems == [], problems[:10]
    assert set(statuses) <= {200, 201}, statuses
    assert sources["down:model"] > 0, sources
    assert set(sources) <= {"up:model", "down:model"}, sources

    # Every acknowledged rating is stored; statistics are exact.
    stored = {
        (u, m): v
        for u, m, v in rows(stack.database_url, "SELECT user_id, movie_id, value FROM ratings_rating")
    }
    assert {k: v for k, v in acknowledged.items() if stored.get(k) != v} == {}
    assert len(acknowledged) >= MEMBERS
    assert movie_stats_exact(stack.database_url) == []

    # Redis is back: the refresh queued before the outage runs as soon as a worker is there ...
    worker = stack.worker("default", "default")
    listed = wait_for(
        lambda: _list_of(stack.database_url, early["id"]), timeout=60, what="the queued refresh"
    )
    assert listed[1] is True
    assert not set(listed[0]) & set(early_movies)
    # ... and new work is queued again: a member who rated during the outage rates once more, and their
    # refreshed list leaves out everything they rated, the outage's ratings included.
    late = members[1]
    mine = {m for (u, m) in acknowledged if u == late["id"]}
    # A movie they have not rated, or (a fast machine lets a member rate the whole small catalogue
    # during the load) a re-rating of one they have: either way a rating change that queues a refresh.
    unrated = rows(
        stack.database_url,
        "SELECT id FROM catalog_movie WHERE id NOT IN (SELECT movie_id FROM ratings_rating WHERE user_id = %s)"
        " ORDER BY id LIMIT 1",
        (late["id"],),
    )
    extra, created = (unrated[0][0], True) if unrated else (min(mine), False)
    rated_at = rows(stack.database_url, "SELECT now()")[0][0]
    put = Client(base, token=late["token"]).request(
        "PUT", f"/api/v1/me/ratings/{extra}/", json={"value": 4.5}
    )
    assert put.status_code == (201 if created else 200), put.text
    # A refresh queued during the load may still be running and write a list that predates this
    # rating; the member's stale-list note is cleared only by a refresh that read every change.
    wait_for(
        lambda: (
            rows(stack.database_url, "SELECT 1 FROM ratings_stalelistnote WHERE user_id = %s", (late["id"],))
            == []
        ),
        timeout=60,
        what="a refresh that saw every change",
    )
    listed = wait_for(
        lambda: _list_of(stack.database_url, late["id"], rated_at), timeout=60, what="the new refresh"
    )
    assert listed[1] is True
    assert not set(listed[0]) & (mine | {extra})
    assert "recommendations.refresh_stale[" in worker.output()


def test_a_rating_made_while_redis_is_down_is_refreshed_once_redis_is_back(stack):
    """Nothing can be queued while Redis is down, but the rating's transaction wrote a durable note that
    the member's list is stale; once Redis is back, beat's sweep (the schedule migrations install)
    queues the refresh, and the refresh clears the note."""
    (member,) = member_tokens(stack.env, 1, prefix="outage")
    movies = stack.template["clusters"]["Drama"][:2]
    base = stack.web()
    stack.redis.stop()
    for movie in movies:
        put = Client(base, token=member["token"]).request(
            "PUT", f"/api/v1/me/ratings/{movie}/", json={"value": 5}
        )
        assert put.status_code == 201, put.text
    note = "SELECT changes FROM ratings_stalelistnote WHERE user_id = %s"
    assert rows(stack.database_url, note, (member["id"],)) == [(2,)]
    assert _list_of(stack.database_url, member["id"]) is None

    stack.redis.start()
    sweep_env = {"RECOMMENDATIONS_STALE_SWEEP_AFTER_SECONDS": "1"}
    worker = stack.worker("default", "default", **sweep_env)
    beat = Process(
        "beat",
        [sys.executable, "-m", "celery", "-A", "recommender_site", "beat", "--loglevel", "INFO",
         "--schedule", str(stack.dir / "beat-schedule")],
        env={**stack.env, **sweep_env}, log_dir=stack.dir,
    )  # fmt: skip
    stack.processes.append(beat)
    listed = wait_for(
        lambda: _list_of(stack.database_url, member["id"]), timeout=90, what="the swept refresh"
    )
    assert listed[1] is True
    assert not set(listed[0]) & set(movies)
    assert wait_for(
        lambda: rows(stack.database_url, note, (member["id"],)) == [], timeout=30, what="the note cleared"
    )
    assert "recommendations.refresh_stale_sweep" in beat.output()
    assert "recommendations.refresh_stale_sweep[" in worker.output()
