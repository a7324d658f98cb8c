"""PostgreSQL goes away under load (a restart, a fail-over): requests fail cleanly with a 503 and a
message, never a 500 traceback; they succeed again once it is back; no acknowledged rating is lost.

The cluster is this suite's private one (tests/reliability/support.py), so stopping it disturbs nobody.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests

from .support import Client, member_tokens, movie_stats_exact, rows, run_members, session_cookie, wait_for

pytestmark = pytest.mark.integration

MEMBERS = 10
OUTAGE_SECONDS = 4.0


def _check_503(response: requests.Response, problems: list[str]) -> None:
    """A 503 of the outage says so: JSON with code database_unavailable under /api/, a page elsewhere."""
    where = response.request.path_url
    if response.headers.get("Retry-After") is None:
        problems.append(f"{where}: 503 without Retry-After")
    if where.startswith("/api/"):
        body = response.json()
        if body["error"]["code"] != "database_unavailable" or "database" not in body["error"]["message"]:
            problems.append(f"{where}: {body}")
    elif "try again" not in response.text or "Traceback" in response.text:
        problems.append(f"{where}: {response.text[:200]}")


def test_a_postgresql_restart_under_load_is_503_then_recovers_and_loses_no_acknowledged_rating(stack):
    members = member_tokens(stack.env, MEMBERS)
    movies = [m for cluster in stack.template["clusters"].values() for m in cluster]
    base = stack.web()
    acknowledged: dict[tuple[int, int], float] = {}
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 16
    back_at: list[float] = []
    acknowledged_after: list[float] = []

    def note(response: requests.Response) -> None:
        with lock:
            statuses[response.status_code] += 1
            if response.status_code == 503:
                _check_503(response, problems)
            elif response.status_code >= 400:
                problems.append(
                    f"{response.request.method} {response.request.path_url}: {response.status_code}"
                )

    def member(i: int) -> None:
        me = members[i]
        api = Client(base, token=me["token"])
        visitor = Client(base)
        for k, movie in enumerate(movies):  # each (member, movie) is written once: acknowledgements are exact
            if time.monotonic() > stop_at:
                break
            value = 0.5 + (k + i) % 10 / 2
            put = api.request("PUT", f"/api/v1/me/ratings/{movie}/", json={"value": value})
            note(put)
            if put.status_code in (200, 201):
                with lock:
                    acknowledged[(me["id"], movie)] = value
                    if back_at and time.monotonic() > back_at[0]:
                        acknowledged_after.append(time.monotonic())
            note(api.request("GET", "/api/v1/me/recommendations/?n=5"))
            note(visitor.request("GET", f"/movies/{movie}/"))
            time.sleep(0.15)

    def outage() -> None:
        time.sleep(3)
        stack.pg.stop("fast")  # terminates every session, refuses new ones
        time.sleep(OUTAGE_SECONDS)
        stack.pg.start()
        back_at.append(time.monotonic())

    errors = run_members(MEMBERS, member, during=outage)
    assert errors == [], errors[:3]
    assert problems == [], problems[:10]
    assert statuses[503] > 0, f"the outage was not observed: {statuses}"
    assert set(statuses) <= {200, 201, 503}, statuses

    # Back to normal once PostgreSQL is.
    visitor = Client(base)
    wait_for(lambda: visitor.request("GET", "/readyz").status_code == 200, timeout=30, what="readiness")
    assert visitor.request("GET", "/api/v1/movies/").status_code == 200
    assert Client(base, token=members[0]["token"]).request("GET", "/api/v1/me/ratings/").status_code == 200

    stored = {
        (user, movie): value
        for user, movie, value in rows(
            stack.database_url,
            "SELECT user_id, movie_id, value FROM ratings_rating WHERE user_id = ANY(%s)",
            ([m["id"] for m in members],),
        )
    }
    lost = {key: value for key, value in acknowledged.items() if stored.get(key) != value}
    assert lost == {}, f"{len(lost)} acknowledged ratings lost"
    assert len(acknowledged) >= MEMBERS * 2, statuses
    assert acknowledged_after, f"no rating was acknowledged after the restart: {statuses}"
    assert movie_stats_exact(stack.database_url) == []


def test_while_postgresql_is_down_every_kind_of_request_answers_a_clean_503(stack):
    members = member_tokens(stack.env, 1)
    cookie = session_cookie(stack.env, members[0]["id"])
    base = stack.web()
    clients: dict[str, Client] = {
        "visitor": Client(base),
        "member": Client(base, session=cookie),
        "token": Client(base, token=members[0]["token"]),
    }
    cases = [
        ("visitor", "GET", "/", "page"),
        ("visitor", "GET", "/movies/?q=story", "page"),
        ("visitor", "GET", f"/movies/{stack.template['clusters']['Drama'][0]}/", "page"),
        ("member", "GET", "/", "page"),
        ("member", "GET", "/me/ratings/", "page"),
        ("member", "GET", "/picks/", "page"),
        ("visitor", "GET", "/api/v1/movies/", "api"),
        ("token", "GET", "/api/v1/me/recommendations/", "api"),
        ("token", "GET", "/api/v1/me/ratings/", "api"),
        ("token", "PUT", f"/api/v1/me/ratings/{stack.template['clusters']['Drama'][0]}/", "api"),
        ("visitor", "POST", "/api/v1/auth/token/", "api"),
        ("visitor", "GET", "/readyz", "readyz"),
        ("visitor", "GET", "/healthz", "healthz"),
    ]
    before = {path: clients[who].request(method, path, json={"value": 4.0} if method == "PUT" else
                                         {"username": "x", "password": "y"}).status_code
              for who, method, path, _ in cases}  # fmt: skip
    assert all(status < 500 for status in before.values()), before

    stack.pg.stop("fast")
    try:
        problems: list[str] = []
        seen: dict[str, Any] = {}
        for who, method, path, kind in cases:
            body = {"value": 4.0} if method == "PUT" else {"username": "x", "password": "y"}
            response = clients[who].request(method, path, json=body if method != "GET" else None)
            seen[path] = response.status_code
            if kind == "healthz":
                if response.status_code != 200:
                    problems.append(f"/healthz: {response.status_code}")
            elif kind == "readyz":
                if response.status_code != 503 or response.json()["checks"]["database"]["ok"] is not False:
                    problems.append(f"/readyz: {response.status_code} {response.text[:200]}")
            elif response.status_code != 503:
                problems.append(f"{method} {path} as {who}: {response.status_code} {response.text[:200]}")
            else:
                _check_503(response, problems)
                expected = "application/json" if kind == "api" else "text/html"
                if not response.headers["Content-Type"].startswith(expected):
                    problems.append(f"{path}: {response.headers['Content-Type']}")
        assert problems == [], (problems, seen)
    finally:
        stack.pg.start()

    visitor = clients["visitor"]
    wait_for(lambda: visitor.request("GET", "/readyz").status_code == 200, timeout=30, what="readiness")
    for who, method, path, _ in cases:
        if method == "GET":
            assert clients[who].request(method, path).status_code == 200, (who, path)
