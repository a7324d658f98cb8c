"""A catalogue of malformed inputs across importer files, CLI arguments, HTML forms, API bodies, query
parameters and URL ids (wrong types, out of range, huge, unicode edge cases, injection strings,
truncated or corrupt archives). Each one gets a clear error, and the database is compared before and
after: nothing changed."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from catalog.models import Genre, Movie
from ratings.models import HiddenMovie, Rating, WatchlistEntry
from ratings.services import rating_upsert
from recommendations.models import ModelVersion, RecommendationList, TrainingRun
from tests.factories import GenreFactory, MovieFactory, UserFactory

pytestmark = pytest.mark.django_db

INJECTION = "1'; DROP TABLE ratings_rating; --"


def db_state() -> dict[str, Any]:
    """Everything the inputs below could change, exactly."""
    return {
        "users": sorted(User.objects.values_list("username", "email", "password", "is_active", "is_staff")),
        "movies": sorted(Movie.objects.values_list("id", "title", "year", "rating_count", "rating_mean")),
        "genres": sorted(Genre.objects.values_list("name", flat=True)),
        "ratings": sorted(Rating.objects.values_list("user_id", "movie_id", "value", "updated_at")),
        "hidden": sorted(HiddenMovie.objects.values_list("user_id", "movie_id")),
        "watchlist": sorted(WatchlistEntry.objects.values_list("user_id", "movie_id")),
        "tokens": sorted(AuthToken.objects.values_list("user_id", flat=True)),
        "runs": TrainingRun.objects.count(),
        "versions": ModelVersion.objects.count(),
        "lists": RecommendationList.objects.count(),
    }


@dataclass
class World:
    member: User
    movie: Movie
    tmp: Path
    api: APIClient
    site: Client
    anon_api: APIClient


@pytest.fixture
def world(db, tmp_path: Path) -> World:
    GenreFactory.create(name="Comedy")
    movie = MovieFactory.create(title="Toy Story", year=1995, movielens_id=1)
    MovieFactory.create(title="Heat", year=1995, movielens_id=2)
    member = UserFactory.create(username="alice")
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=4.0)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=member)[1]}")
    site = Client()
    site.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    return World(member=member, movie=movie, tmp=tmp_path, api=api, site=site, anon_api=APIClient())


# --- Importer files and CLI arguments -------------------------------------------------------------------

MOVIES_CSV = "movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat (1995),Drama\n"


def latest(tmp: Path, ratings: str | bytes, movies: str | bytes = MOVIES_CSV) -> Path:
    folder = tmp / "ml-latest-small"
    folder.mkdir()
    for name, content in (("ratings.csv", ratings), ("movies.csv", movies)):
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def zipped(folder: Path, *, truncate: bool = False) -> Path:
    target = folder.parent / "ml-latest-small.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{folder.name}/{path.name}")
    if truncate:
        data = target.read_bytes()
        target.write_bytes(data[: len(data) * 2 // 3])
    return target


HEADER = "userId,movieId,rating,timestamp\n"
# (id, builder of the command's arguments, words the error must contain)
FILE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("rating-not-a-number", lambda t: [str(latest(t, HEADER + "1,1,abc,964982703\n"))], "abc"),
    ("rating-out-of-range", lambda t: [str(latest(t, HEADER + "1,1,7,964982703\n"))], "7"),
    ("rating-negative", lambda t: [str(latest(t, HEADER + "1,1,-1,964982703\n"))], "-1"),
    ("rating-nan", lambda t: [str(latest(t, HEADER + "1,1,NaN,964982703\n"))], "line 2"),
    ("rating-not-half-star", lambda t: [str(latest(t, HEADER + "1,1,3.7,964982703\n"))], "3.7"),
    (
        "user-id-huge",
        lambda t: [str(latest(t, HEADER + "99999999999999999999999,1,4,964982703\n"))],
        "line 2",
    ),
    ("user-id-injection", lambda t: [str(latest(t, HEADER + f'"{INJECTION}",1,4,964982703\n'))], "line 2"),
    ("too-few-fields", lambda t: [str(latest(t, HEADER + "1,1,4\n"))], "line 2"),
    ("too-many-fields", lambda t: [str(latest(t, HEADER + "1,1,4,964982703,9\n"))], "line 2"),
    ("unknown-movie", lambda t: [str(latest(t, HEADER + "1,999,4,964982703\n"))], "999"),
    ("timestamp-not-a-number", lambda t: [str(latest(t, HEADER + "1,1,4,yesterday\n"))], "yesterday"),
    ("wrong-header", lambda t: [str(latest(t, "user,movie,stars,when\n1,1,4,964982703\n"))], "header"),
    ("nul-byte", lambda t: [str(latest(t, HEADER + "1,1,4\x00,964982703\n"))], "line 2"),
    (
        "title-invalid-utf8",
        lambda t: [
            str(latest(t, HEADER + "1,1,4,964982703\n", b"movieId,title,genres\n1,Caf\xe9 (1995),Comedy\n"))
        ],
        "UTF-8",
    ),
    (
        "duplicate-movie-id",
        lambda t: [str(latest(t, HEADER + "1,1,4,964982703\n", MOVIES_CSV + "1,Again (1999),Drama\n"))],
        "twice",
    ),
    (
        "truncated-zip",
        lambda t: [str(zipped(latest(t, HEADER + "1,1,4,964982703\n" * 200), truncate=True))],
        "zip",
    ),
    (
        "not-a-zip",
        lambda t: [str(_write(t / "ml-latest-small.zip", b"PK\x03\x04 this is not a zip at all"))],
        "zip",
    ),
    ("empty-folder", lambda t: [str(_mkdir(t / "nothing-here"))], "nothing-here"),
    ("missing-path", lambda t: [str(t / "no-such-dir")], "no such file"),
    ("unknown-release-name", lambda t: ["ml-999k"], "ml-999k"),
    ("unknown-format-option", lambda t: [str(latest(t, HEADER)), "--format", "csv-ish"], "csv-ish"),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def review_line(**fields: Any) -> str:
    record = {"reviewerID": "A1", "asin": "B000001", "overall": 4.0, "unixReviewTime": 964982703, **fields}
    return json.dumps(record)


def gz(path: Path, text: str, *, truncate: bool = False) -> Path:
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2] if truncate else data)
    return path


AMAZON_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("review-not-json", lambda t: ["--reviews", str(_write(t / "r.json", b"{reviewerID: A1\n"))], "JSON"),
    ("review-not-an-object", lambda t: ["--reviews", str(_write(t / "r.json", b"[1, 2, 3]\n"))], "object"),
    (
        "review-overall-text",
        lambda t: ["--reviews", str(_write(t / "r.json", review_line(overall="five").encode()))],
        "five",
    ),
    (
        "review-overall-out-of-range",
        lambda t: ["--reviews", str(_write(t / "r.json", review_line(overall=6).encode()))],
        "6",
    ),
    (
        "review-missing-asin",
        lambda t: [
            "--reviews",
            str(_write(t / "r.json", json.dumps({"reviewerID": "A1", "overall": 4}).encode())),
        ],
        "asin",
    ),
    (
        "reviews-truncated-gzip",
        lambda t: ["--reviews", str(gz(t / "r.json.gz", (review_line() + "\n") * 500, truncate=True))],
        "r.json.gz",
    ),
    (
        "metadata-code-not-a-literal",
        lambda t: [
            "--reviews",
            str(_write(t / "r.json", review_line().encode())),
            "--metadata",
            str(_write(t / "m.json", b"__import__('os').system('touch /tmp/pwned')\n")),
        ],
        "m.json",
    ),
    ("min-ratings-not-a-number", lambda t: ["--reviews", "r.json", "--min-ratings", "abc"], "abc"),
    ("reviews-argument-missing", lambda t: [], "--reviews"),
]


@pytest.mark.parametrize(("case", "build", "words"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_movielens_files_and_arguments_are_refused_with_a_clear_error(world, case, build, words):
    before = db_state()
    args = build(world.tmp)
    with pytest.raises(CommandError) as refused:
        call_command("load_movielens", *args, "--cache-dir", str(world.tmp / "cache"), stdout=io.StringIO(),
                     stderr=io.StringIO(), verbosity=0)  # fmt: skip
    assert words.lower() in str(refused.value).lower(), str(refused.value)
    assert db_state() == before


@pytest.mark.parametrize(("case", "build", "words"), AMAZON_CASES, ids=[c[0] for c in AMAZON_CASES])
def test_bad_amazon_files_and_arguments_are_refused_with_a_clear_error(world, case, build, words):
    before = db_state()
    with pytest.raises(CommandError) as refused:
        call_command(
            "load_amazon", *build(world.tmp), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0
        )
    assert words.lower() in str(refused.value).lower(), str(refused.value)
    assert db_state() == before
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        ("retrain", ["--epochs", "3"], "unrecognized arguments"),
        ("load_movielens", [], "NAME_OR_PATH"),
        ("dataset_path", ["ml-999k"], "not a MovieLens release"),
    ],
)
def test_bad_command_lines_are_refused(world, command, args, words):
    before = db_state()
    with pytest.raises(CommandError) as refused:
        call_command(command, *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert words in str(refused.value)
    assert db_state() == before


def test_injection_strings_in_a_dataset_are_stored_as_plain_text(world):
    """Not an error: a title is data. It is stored verbatim and nothing else happens."""
    folder = latest(world.tmp, HEADER + "1,2,4,964982703\n",
                    f'movieId,title,genres\n1,Toy Story (1995),Comedy\n2,"{INJECTION} (1995)",Drama\n')  # fmt: skip
    call_command("load_movielens", str(folder), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    assert Movie.objects.get(movielens_id=2).title == INJECTION
    assert Rating.objects.filter(movie__movielens_id=2).count() == 1
    assert Rating.objects.filter(user=world.member).count() == 1


# --- HTML forms -------------------------------------------------------------------------------------------

RATING_FORM_VALUES = ["", "abc", "5.5", "0", "NaN", "inf", "1e309", "4.25", INJECTION, "9" * 5000, "4,5"]


@pytest.mark.parametrize("value", RATING_FORM_VALUES, ids=lambda v: repr(v)[:20])
def test_the_rating_form_refuses_bad_values_and_changes_nothing(world, value):
    before = db_state()
    response = world.site.post(f"/movies/{world.movie.pk}/rating/", {"value": value})
    assert response.status_code == 400
    assert "rating" in response.content.decode().lower()
    assert db_state() == before


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/movies/{movie}/hide/", {"state": "maybe"}),
        ("/movies/{movie}/watchlist/", {"state": INJECTION}),
        ("/movies/{movie}/watchlist/", {}),
    ],
)
def test_the_toggle_forms_refuse_anything_but_on_and_off(world, url, data):
    before = db_state()
    response = world.site.post(url.format(movie=world.movie.pk), data)
    assert response.status_code == 400
    assert db_state() == before


SIGNUPS = [
    ({"username": "eve:1"}, "username"),
    ({"username": "e" * 151}, "username"),
    ({"username": "eve\u202egpj"}, "username"),  # right-to-left override
    ({"username": "eve\u200b"}, "username"),  # zero-width space
    ({"username": "ＡＬＩＣＥ"}, "username"),  # fullwidth: NFKC-normalised to ALICE, which is taken
    ({"username": INJECTION}, "username"),
    ({"email": "not-an-email"}, "email"),
    # A taken email is not an error (that would tell who has an account): test_hardening.py, item 6.
    ({"password2": "something-else-42!"}, "password2"),
    ({"password1": "password", "password2": "password"}, "password1"),  # rules show under the password
    ({"password1": "12345678901", "password2": "12345678901"}, "password1"),
]


@pytest.mark.parametrize(("overrides", "field"), SIGNUPS, ids=[str(s[0])[:30] for s in SIGNUPS])
def test_sign_up_refuses_bad_input_and_creates_nobody(world, overrides, field):
    data = {"username": "eve", "email": "eve@example.com", "password1": "Long-and-unusual-42!",
            "password2": "Long-and-unusual-42!", **overrides}  # fmt: skip
    before = db_state()
    response = Client().post("/accounts/signup/", data)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert db_state() == before


# --- API bodies, query parameters, URL ids ------------------------------------------------------------------

RATING_BODIES = [
    (b'{"value": null}', "invalid"),
    (b'{"value": "abc"}', "invalid"),
    (b'{"value": []}', "invalid"),
    (b'{"value": {"$gt": 0}}', "invalid"),
    (b'{"value": true}', "invalid"),
    (b'{"value": 7}', "invalid"),
    (b'{"value": 4.25}', "invalid"),
    (b'{"value": NaN}', "parse_error"),
    (b'{"value": 1e309}', "invalid"),
    (b'{"value": "' + INJECTION.encode() + b'"}', "invalid"),
    (b"{}", "invalid"),
    (b'{"value": 4', "parse_error"),
    (b"[4.5]", "invalid"),
    (b"[" * 100_000 + b"]" * 100_000, "parse_error"),
    (b'{"value": "' + b"4" * 1_000_000 + b'"}', "invalid"),
    (b'{"value": "\xff\xfe"}', "parse_error"),
]


@pytest.mark.parametrize(("body", "code"), RATING_BODIES, ids=[repr(b[0][:24]) for b in RATING_BODIES])
def test_bad_rating_bodies_are_a_json_400_and_change_nothing(world, body, code):
    before = db_state()
    response = world.api.generic("PUT", f"/api/v1/me/ratings/{world.movie.pk}/", body, "application/json")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert db_state() == before


def test_a_body_that_is_not_json_is_a_415(world):
    before = db_state()
    response = world.api.generic("PUT", f"/api/v1/me/ratings/{world.movie.pk}/", b"value=4", "text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert db_state() == before


REGISTRATIONS = [
    {"username": "eve\x00", "password": "Long-and-unusual-42!"},
    {"username": "e" * 151, "password": "Long-and-unusual-42!"},
    {"username": "eve:1", "password": "Long-and-unusual-42!"},
    {"username": "alice", "password": "Long-and-unusual-42!"},
    {"username": "eve", "password": "x" * 1025},
    {"username": "eve", "password": "password"},
    {"username": "eve", "password": "Long-and-unusual-42!", "email": "a@"},
    {"username": ["eve"], "password": "Long-and-unusual-42!"},
    {"username": "eve"},
]


@pytest.mark.parametrize("body", REGISTRATIONS, ids=lambda b: str(b)[:30])
def test_bad_registrations_are_a_json_400_and_create_nobody(world, body):
    before = db_state()
    response = world.anon_api.post("/api/v1/auth/register/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert db_state() == before


QUERIES = [
    "/api/v1/movies/?year_min=abc",
    "/api/v1/movies/?year_min=99999999999999999999",
    "/api/v1/movies/?ordering=title;DROP%20TABLE%20catalog_movie",
    "/api/v1/movies/?page=0",
    "/api/v1/movies/?page=abc",
    "/api/v1/movies/?page=99999999",
    "/api/v1/movies/?q=" + "x" * 1000,
    "/api/v1/me/recommendations/?n=0",
    "/api/v1/me/recommendations/?n=101",
    "/api/v1/me/recommendations/?n=-5",
    "/api/v1/me/recommendations/?n=1e3",
    "/api/v1/movies/{movie}/similar/?n=51",
    "/api/v1/me/ratings/?ordering=password",
]


@pytest.mark.parametrize("url", QUERIES, ids=lambda u: u[:50])
def test_bad_query_parameters_are_a_json_4xx(world, url):
    before = db_state()
    response = world.api.get(url.format(movie=world.movie.pk))
    assert response.status_code in (400, 404), (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["message"], error
    assert db_state() == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/movies/?decade=19x0", "is not a decade"),
        ("/movies/?sort=password", "is not a way to sort"),
        ("/movies/?q=" + "x" * 1000, "at most 100 characters"),
        ("/movies/?genre=%3Cscript%3Ealert(1)%3C/script%3E", "There is no genre called"),
    ],
)
def test_bad_search_parameters_on_pages_are_reported_and_left_out(world, url, message):
    before = db_state()
    response = world.site.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "<script>alert(1)</script>" not in page  # echoed values are escaped
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/movies/99999999999999999999/"),
        ("POST", "/movies/99999999999999999999/rating/"),
        ("GET", "/api/v1/movies/99999999999999999999/"),
        ("PUT", "/api/v1/me/watchlist/999999999999999999/"),
        ("DELETE", "/api/v1/me/ratings/-1/"),
    ],
)
def test_ids_out_of_range_are_a_404_not_a_crash(world, method, url):
    before = db_state()
    client = world.site if not url.startswith("/api/") else world.api
    response = client.generic(method, url, b"", "application/json") if url.startswith("/api/") else (
        client.post(url, {"value": "4"}) if method == "POST" else client.get(url))  # fmt: skip
    assert response.status_code == 404
    assert db_state() == before
