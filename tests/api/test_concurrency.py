"""20 clients rating at once through the API, on real threads against a live server: no rating lost,
movie statistics exact (rating_upsert locks the movie's row)."""

import json
import threading
import urllib.request

import pytest
from knox.models import AuthToken

from catalog.models import Movie
from ratings.models import Rating
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 20


def put_rating(base: str, token: str, movie_id: int, value: float) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/me/ratings/{movie_id}/",
        data=json.dumps({"value": value}).encode(),
        method="PUT",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def run_at_once(jobs) -> list[int]:
    """Run every job on its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results  # type: ignore[return-value]


def test_twenty_members_rating_one_movie_at_once(live_server):
    movie = MovieFactory.create()
    tokens = [AuthToken.objects.create(user=UserFactory.create())[1] for _ in range(CLIENTS)]
    values = [0.5 + (i % 10) / 2 for i in range(CLIENTS)]
    jobs = [
        lambda t=t, v=v: put_rating(live_server.url, t, movie.pk, v)
        for t, v in zip(tokens, values, strict=True)
    ]
    assert run_at_once(jobs) == [201] * CLIENTS
    assert Rating.objects.filter(movie=movie).count() == CLIENTS
    movie = Movie.objects.get(pk=movie.pk)
    assert movie.rating_count == CLIENTS
    assert movie.rating_mean == pytest.approx(sum(values) / CLIENTS, abs=1e-9)


def test_one_member_putting_the_same_rating_twenty_times_at_once_keeps_one(live_server):
    movie = MovieFactory.create()
    token = AuthToken.objects.create(user=UserFactory.create())[1]
    results = run_at_once([lambda: put_rating(live_server.url, token, movie.pk, 4.5) for _ in range(CLIENTS)])
    assert sorted(results) == [200] * (CLIENTS - 1) + [201]
    assert list(Rating.objects.values_list("value", flat=True)) == [4.5]
    movie = Movie.objects.get(pk=movie.pk)
    assert (movie.rating_count, movie.rating_mean) == (1, 4.5)
