"""manage.py load_movielens: every format into the database, idempotent, all-or-nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from catalog.models import Genre, Movie
from ratings.models import Rating
from tests.factories import MovieFactory, RatingFactory, UserFactory
from tests.ml.test_datasets import (
    EXPECTED_MOVIES,
    HALF_STAR_RATINGS,
    RATINGS,
    as_zip,
    write_latest,
    write_ml1m,
    write_ml100k,
    write_recbole,
)

UTC = dt.UTC


def load(source: Path | str, *args: str) -> str:
    """Run the command the way a person does and return its summary line."""
    from io import StringIO

    out = StringIO()
    call_command("load_movielens", str(source), *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def movie_rows() -> list[tuple]:
    return [
        (m.movielens_id, m.title, m.year, tuple(sorted(g.name for g in m.genres.all())))
        for m in Movie.objects.filter(movielens_id__isnull=False)
        .order_by("movielens_id")
        .prefetch_related("genres")
    ]


def rating_rows() -> list[tuple]:
    """(user, movielens id, value, created unix time, updated unix time), in a stable order."""
    return [
        (
            r.user.dataset_user_id,
            r.movie.movielens_id,
            r.value,
            int(r.created_at.timestamp()),
            int(r.updated_at.timestamp()),
        )
        for r in Rating.objects.select_related("user", "movie").order_by(
            "user__dataset_user_id", "movie__movielens_id"
        )
    ]


def snapshot() -> tuple[dict[str, int], str]:
    """Row counts and a checksum of every row an import could touch: equal snapshots, unchanged DB."""
    tables = {
        "movies": Movie.objects.order_by("pk").values_list(
            "pk", "title", "search_title", "year", "movielens_id", "imdb_id", "tmdb_id", "amazon_asin",
            "rating_count", "rating_mean", "updated_at",
        ),
        "genres": Genre.objects.order_by("pk").values_list("pk", "name"),
        "movie_genres": Movie.genres.through.objects.order_by("pk").values_list("movie_id", "genre_id"),
        "users": User.objects.order_by("pk").values_list("pk", "username", "dataset_source", "dataset_user_id"),
        "ratings": Rating.objects.order_by("pk").values_list("pk", "user_id", "movie_id", "value", "created_at", "updated_at"),
    }  # fmt: skip
    digest = hashlib.sha256()
    counts = {}
    for name, rows in tables.items():
        rows = list(rows)
        counts[name] = len(rows)
        digest.update(repr(rows).encode())
    return counts, digest.hexdigest()


def expected_rating_rows(ratings: list[tuple]) -> list[tuple]:
    return sorted((str(u), m, v, t, t) for u, m, v, t in ratings)


# --------------------------------------------------------------------------------------------------
# Every format, as a folder and as a zip


@pytest.mark.django_db
@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize(
    ("write", "fmt", "ratings"),
    [
        (write_ml100k, "ml-100k", RATINGS),
        (write_ml1m, "ml-1m", RATINGS),
        (write_latest, "ml-latest", HALF_STAR_RATINGS),
        (write_recbole, "recbole", HALF_STAR_RATINGS),
    ],
    ids=["ml-100k", "ml-1m", "ml-latest", "recbole"],
)
def test_load_movielens_imports_every_format(
    tmp_path: Path, write, fmt: str, ratings: list[tuple], zipped: bool
) -> None:
    source = write(tmp_path)
    source = as_zip(source) if zipped else source

    summary = load(source)

    assert summary.startswith(
        f"MovieLens ({fmt}): movies 5 created, 0 updated; users 3 created; ratings 5 created, 0 updated, 0 unchanged;"
    )
    assert movie_rows() == [(i, t, y, tuple(sorted(g))) for i, t, y, g in EXPECTED_MOVIES]
    assert rating_rows() == expected_rating_rows(ratings)
    assert sorted(Genre.objects.values_list("name", flat=True)) == [
        "Action", "Animation", "Children's", "Comedy", "Crime", "Drama", "Sci-Fi", "Thriller",
    ]  # fmt: skip


@pytest.mark.django_db
def test_dataset_users_cannot_log_in(tmp_path: Path) -> None:
    load(write_ml100k(tmp_path))

    users = User.objects.order_by("username")
    assert [(u.username, u.dataset_source, u.dataset_user_id) for u in users] == [
        ("movielens:1", "movielens", "1"),
        ("movielens:2", "movielens", "2"),
        ("movielens:3", "movielens", "3"),
    ]
    assert not any(u.has_usable_password() for u in users)


@pytest.mark.django_db
def test_movie_statistics_are_exact_after_the_import(tmp_path: Path) -> None:
    load(write_latest(tmp_path))

    stats = dict(Movie.objects.values_list("movielens_id", "rating_count"))
    means = dict(Movie.objects.values_list("movielens_id", "rating_mean"))
    assert stats == {1: 2, 2: 1, 3: 1, 4: 0, 5: 1}
    assert means == {1: 4.0, 2: 0.5, 3: 5.0, 4: 0.0, 5: 2.5}


@pytest.mark.django_db
def test_half_stars_are_kept_exactly(tmp_path: Path) -> None:
    load(write_latest(tmp_path))

    assert sorted(Rating.objects.values_list("value", flat=True)) == [0.5, 2.5, 3.5, 4.5, 5.0]


@pytest.mark.django_db
def test_ml_latest_links_give_imdb_and_tmdb_ids(tmp_path: Path) -> None:
    load(write_latest(tmp_path))

    assert list(Movie.objects.order_by("movielens_id").values_list("movielens_id", "imdb_id", "tmdb_id")) == [
        (1, "tt0114709", 862),
        (2, "tt0114369", 807),
        (3, "tt0133093", 603),
        (4, "tt0113343", None),
        (5, None, None),
    ]
    assert Movie.objects.get(movielens_id=3).search_title == "the matrix"


@pytest.mark.django_db
def test_an_imdb_id_another_movie_holds_is_left_out(tmp_path: Path) -> None:
    MovieFactory(title="Toy Story (added by hand)", imdb_id="tt0114709")

    summary = load(write_latest(tmp_path))

    assert Movie.objects.get(movielens_id=1).imdb_id is None
    assert Movie.objects.get(movielens_id=1).tmdb_id == 862
    assert summary.endswith("(1 IMDb/TMDB ids already belonged to another movie and were left out)")


# --------------------------------------------------------------------------------------------------
# Idempotent, and a newer file updates


@pytest.mark.django_db(transaction=True)
def test_importing_twice_leaves_the_same_rows(tmp_path: Path) -> None:
    """transaction=True: each import commits for real, so PostgreSQL's COPY staging table and its
    ON COMMIT DROP are exercised across two transactions, as in production."""
    source = as_zip(write_latest(tmp_path))
    load(source)
    first = snapshot()

    summary = load(source)

    assert snapshot() == first
    assert summary.startswith(
        "MovieLens (ml-latest): movies 0 created, 0 updated; users 0 created; ratings 0 created, 0 updated, 5 unchanged;"
    )


@pytest.mark.django_db
def test_a_newer_file_updates_changed_ratings_and_their_time(tmp_path: Path) -> None:
    load(write_latest(tmp_path / "old"))
    untouched_before = Rating.objects.get(user__dataset_user_id="1", movie__movielens_id=2).updated_at
    newer = [
        (1, 1, 2.0, 1200000000),  # changed from 4.5
        *HALF_STAR_RATINGS[1:],
        (3, 1, 3.0, 1200000001),  # new
    ]

    summary = load(write_latest(tmp_path / "new", ratings=newer))

    changed = Rating.objects.get(user__dataset_user_id="1", movie__movielens_id=1)
    assert (changed.value, changed.created_at, changed.updated_at) == (
        2.0,
        dt.datetime.fromtimestamp(1100000000, UTC),
        dt.datetime.fromtimestamp(1200000000, UTC),
    )
    assert Rating.objects.get(user__dataset_user_id="1", movie__movielens_id=2).updated_at == untouched_before
    assert Rating.objects.count() == 6
    assert "ratings 1 created, 1 updated, 4 unchanged" in summary
    assert Movie.objects.get(movielens_id=1).rating_mean == pytest.approx((2.0 + 3.5 + 3.0) / 3)


@pytest.mark.django_db
def test_a_newer_file_updates_changed_movies_only(tmp_path: Path) -> None:
    load(write_ml100k(tmp_path / "a"))
    before = dict(Movie.objects.values_list("movielens_id", "updated_at"))
    load(write_recbole(tmp_path / "b", ratings=RATINGS))  # same movies and ratings, RecBole layout

    assert dict(Movie.objects.values_list("movielens_id", "updated_at")) == before

    folder = write_ml1m(tmp_path / "c")
    text = (folder / "movies.dat").read_text(encoding="latin-1").replace("Crime|Thriller", "Thriller")
    (folder / "movies.dat").write_text(
        text.replace("Hostile Intentions", "Hostile Intentions (1994)"), encoding="latin-1"
    )
    summary = load(folder)

    assert "movies 0 created, 2 updated" in summary
    assert Movie.objects.get(movielens_id=4).year == 1994
    assert [g.name for g in Movie.objects.get(movielens_id=2).genres.all()] == ["Thriller"]


@pytest.mark.django_db
def test_ratings_of_people_and_other_datasets_are_untouched(tmp_path: Path) -> None:
    person = UserFactory()
    own = RatingFactory(user=person, value=3.5)

    load(write_ml100k(tmp_path))

    own.refresh_from_db()
    assert (own.user_id, own.value) == (person.pk, 3.5)
    assert Rating.objects.count() == 6


# --------------------------------------------------------------------------------------------------
# Malformed input: a message naming file and line, and the database exactly as it was


def _seeded(tmp_path: Path) -> tuple[dict[str, int], str]:
    load(write_ml100k(tmp_path / "seed"))
    return snapshot()


def _rejected(source: Path | str, *args: str) -> str:
    with pytest.raises(CommandError) as caught:
        load(source, *args)
    return str(caught.value)


@pytest.mark.django_db
def test_bad_column_count_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)
    lines = ["1\t1\t5\t881250949", "1\t2\t3\t881250950", "2\t1\t4\t881250951", "2\t3\t1"]

    message = _rejected(as_zip(write_ml100k(tmp_path / "bad", data_lines=lines)))

    assert message == "ml-100k/u.data line 4: expected 4 fields separated by tabs, found 3"
    assert snapshot() == before


@pytest.mark.django_db
def test_non_numeric_rating_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)

    message = _rejected(write_latest(tmp_path / "bad", data_lines=["1,1,4.5,1", "1,2,four,2"]))

    assert message == "ml-latest-small/ratings.csv line 3: rating 'four' is not a number"
    assert snapshot() == before


@pytest.mark.django_db
def test_out_of_range_rating_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)
    lines = [*(f"{u}\t{m}\t{r:g}\t{t}" for u, m, r, t in RATINGS), "3\t1\t7\t881250999"]

    message = _rejected(as_zip(write_ml100k(tmp_path / "bad", data_lines=lines)))

    assert message == "ml-100k/u.data line 6: rating 7 is out of range (0.5..5.0)"
    assert snapshot() == before


@pytest.mark.django_db
def test_unknown_movie_id_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)

    message = _rejected(
        write_ml1m(tmp_path / "bad", data_lines=["1::1::5::881250949", "1::99::3::881250950"])
    )

    assert message == "ml-1m/ratings.dat line 2: movie id 99 is not in ml-1m/movies.dat"
    assert snapshot() == before


@pytest.mark.django_db
def test_bad_encoding_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)
    movies = b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Mis\xe9rables (1995),Drama\n"

    message = _rejected(write_latest(tmp_path / "bad", movies_csv=movies, links=None, data_lines=["1,1,4,1"]))

    assert message == "ml-latest-small/movies.csv line 3: not valid UTF-8 (byte 0xe9)"
    assert snapshot() == before


@pytest.mark.django_db
def test_truncated_zip_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)
    archive = as_zip(write_ml100k(tmp_path / "bad"))
    archive.write_bytes(archive.read_bytes()[:-100])

    message = _rejected(archive)

    assert message.startswith("ml-100k.zip: not a readable zip file (truncated or corrupt")
    assert snapshot() == before


@pytest.mark.django_db
def test_unrecognised_folder_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)
    (tmp_path / "holiday-photos").mkdir()
    (tmp_path / "holiday-photos" / "beach.jpg").write_bytes(b"\xff\xd8")

    message = _rejected(tmp_path / "holiday-photos")

    assert message == (
        "holiday-photos: no MovieLens files found (expected u.data, ratings.dat, ratings.csv or a RecBole .inter)"
    )
    assert snapshot() == before


@pytest.mark.django_db
def test_wrong_forced_format_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)

    message = _rejected(write_ml100k(tmp_path / "bad"), "--format", "ml-latest")

    assert message == "ml-100k: no ratings.csv found (needed by the ml-latest format)"
    assert snapshot() == before


@pytest.mark.django_db
def test_nonexistent_path_is_rejected(tmp_path: Path) -> None:
    before = _seeded(tmp_path)

    message = _rejected(tmp_path / "nowhere" / "ml-100k.zip")

    assert message == (
        f"{tmp_path / 'nowhere' / 'ml-100k.zip'}: no such file or folder, and not a MovieLens release name"
        " (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small)"
    )
    assert snapshot() == before


@pytest.mark.django_db
def test_a_release_with_another_id_space_is_refused(tmp_path: Path) -> None:
    """ml-100k's item ids are not the other releases' movieIds: merging them would retitle movies."""
    for movie_id in range(1, 31):
        MovieFactory(movielens_id=movie_id, title=f"An ml-100k movie {movie_id}")
    before = snapshot()
    movies = "movieId,title,genres\n" + "".join(f"{i},Another movie {i} (2001),Drama\n" for i in range(1, 31))

    message = _rejected(
        write_latest(tmp_path, movies_csv=movies.encode(), links=None, data_lines=["1,1,4,1"])
    )

    assert message == (
        "30 of the 30 MovieLens movie ids in this file name other movies than the database holds (id 1 is"
        " 'An ml-100k movie 1' there and 'Another movie 1' here): MovieLens 100K numbers its movies"
        " differently from the other releases; import it into a separate database"
    )
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_ratings_are_written_rolls_everything_back(tmp_path: Path, monkeypatch) -> None:
    """The last step fails after movies, users and (on PostgreSQL) the COPY + merge are done: the
    whole import must roll back. transaction=True, so the rollback is the importer's own."""
    load(write_ml100k(tmp_path / "seed"))
    before = snapshot()

    def broken_stats_refresh(**kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("ingest.movielens.movie_stats_refresh", broken_stats_refresh)
    newer = [(u, m, 0.5, t + 1) for u, m, _, t in HALF_STAR_RATINGS] + [(9, 4, 4.0, 1300000000)]

    with pytest.raises(RuntimeError, match="the disk is full"):
        load(write_latest(tmp_path / "new", ratings=newer))

    assert snapshot() == before
    with connection.cursor() as cursor:  # the staging table went with the transaction
        assert "catalog_import_rating_stage" not in connection.introspection.table_names(cursor)


def _rating_constraints() -> dict[str, tuple]:
    """Every constraint and index of the ratings table, as the database describes it."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Rating._meta.db_table)
    return {
        name: (tuple(c["columns"]), c["unique"], c["primary_key"], c["foreign_key"], c["index"], c["check"])
        for name, c in found.items()
    }


@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_rebuilds_the_ratings_constraints_exactly(tmp_path: Path, monkeypatch) -> None:
    """On PostgreSQL a big first import drops the foreign keys and secondary indexes and rebuilds them
    (BULK_MIN_ROWS lowered so five ratings count as big). On SQLite the path does not exist and the
    schema is trivially unchanged."""
    monkeypatch.setattr("ingest.writer.BULK_MIN_ROWS", 1)
    schema = _rating_constraints()

    load(write_latest(tmp_path))

    assert rating_rows() == expected_rating_rows(HALF_STAR_RATINGS)
    assert _rating_constraints() == schema


@pytest.mark.django_db(transaction=True)
def test_a_failed_bulk_load_restores_the_constraints_it_dropped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("ingest.writer.BULK_MIN_ROWS", 1)
    schema = _rating_constraints()
    before = snapshot()

    def broken_stats_refresh(**kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("ingest.movielens.movie_stats_refresh", broken_stats_refresh)

    with pytest.raises(RuntimeError, match="the disk is full"):
        load(write_latest(tmp_path))

    assert snapshot() == before
    assert _rating_constraints() == schema
