"""ml.datasets: every MovieLens format and Amazon, read from small files written by the tests.

The ``write_*`` builders are also used by the importer tests (tests/catalog/test_importers*.py), so
the same tiny datasets go through the parser here and through the database there.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml.datasets import (
    ML100K_GENRES,
    DatasetError,
    amazon_filter,
    detect_format,
    read_amazon,
    read_movielens,
    title_normalise,
    title_year_parse,
)

# --------------------------------------------------------------------------------------------------
# Builders: one small dataset, written in every format

# (movie id, title as MovieLens writes it, year, genres)
MOVIES = [
    (1, "Toy Story (1995)", 1995, ("Animation", "Children's", "Comedy")),
    (2, "Seven (Se7en) (1995)", 1995, ("Crime", "Thriller")),
    (3, "Matrix, The (1999)", 1999, ("Action", "Sci-Fi")),
    (4, "Hostile Intentions", None, ()),
    (5, "Misérables, Les (1995)", 1995, ("Drama",)),
]
# What every format must turn them into: (movie id, title, year, genres)
EXPECTED_MOVIES = [
    (1, "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
    (2, "Seven (Se7en)", 1995, ("Crime", "Thriller")),
    (3, "The Matrix", 1999, ("Action", "Sci-Fi")),
    (4, "Hostile Intentions", None, ()),
    (5, "Les Misérables", 1995, ("Drama",)),
]
# (user, movie, rating, unix time); whole stars, so every format can hold them
RATINGS = [
    (1, 1, 5.0, 881250949),
    (1, 2, 3.0, 881250950),
    (2, 1, 4.0, 881250951),
    (2, 3, 1.0, 881250952),
    (3, 5, 2.0, 881250953),
]
# Half stars, for the formats that have them (ml-latest, RecBole)
HALF_STAR_RATINGS = [
    (1, 1, 4.5, 1100000000),
    (1, 2, 0.5, 1100000001),
    (2, 1, 3.5, 1100000002),
    (2, 3, 5.0, 1100000003),
    (3, 5, 2.5, 1100000004),
]
LINKS = {1: ("0114709", "862"), 2: ("0114369", "807"), 3: ("0133093", "603"), 4: ("0113343", ""), 5: ("", "")}


def _line(fields: tuple[object, ...], sep: str) -> str:
    return sep.join(f"{f:g}" if isinstance(f, float) else str(f) for f in fields)


def write_ml100k(root: Path, *, ratings: list[tuple] = RATINGS, data_lines: list[str] | None = None) -> Path:
    """ml-100k in the GroupLens layout: u.data (tabs) and u.item (pipes, latin-1, 19 genre flags)."""
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    lines = data_lines if data_lines is not None else [_line(r, "\t") for r in ratings]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    items = []
    for movie_id, title, year, genres in MOVIES:
        flags = "|".join("1" if g in genres else "0" for g in ML100K_GENRES)
        date = f"01-Jan-{year}" if year else ""
        items.append(f"{movie_id}|{title}|{date}||http://us.imdb.com/M/title-exact?x|{flags}")
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    return folder


def write_ml1m(root: Path, *, ratings: list[tuple] = RATINGS, data_lines: list[str] | None = None) -> Path:
    """ml-1m: ratings.dat and movies.dat, "::" separated, latin-1."""
    folder = root / "ml-1m"
    folder.mkdir(parents=True)
    lines = data_lines if data_lines is not None else [_line(r, "::") for r in ratings]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n")
    movies = [f"{movie_id}::{title}::{'|'.join(genres)}" for movie_id, title, _, genres in MOVIES]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    return folder


def write_latest(
    root: Path,
    *,
    ratings: list[tuple] = HALF_STAR_RATINGS,
    data_lines: list[str] | None = None,
    movies_csv: bytes | None = None,
    links: dict[int, tuple[str, str]] | None = LINKS,
    name: str = "ml-latest-small",
) -> Path:
    """ml-latest(-small) / ml-25m: ratings.csv, movies.csv (quoted titles), links.csv; UTF-8."""
    folder = root / name
    folder.mkdir(parents=True)
    lines = data_lines if data_lines is not None else [_line(r, ",") for r in ratings]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n")
    if movies_csv is None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for movie_id, title, _, genres in MOVIES:
            writer.writerow([movie_id, title, "|".join(genres) or "(no genres listed)"])
        movies_csv = out.getvalue().encode("utf-8")
    (folder / "movies.csv").write_bytes(movies_csv)
    if links is not None:
        rows = [f"{movie_id},{imdb},{tmdb}" for movie_id, (imdb, tmdb) in links.items()]
        (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n" + "\n".join(rows) + "\n")
    return folder


def write_recbole(root: Path, *, ratings: list[tuple] = HALF_STAR_RATINGS, name: str = "ml-100k") -> Path:
    """RecBole atomic files: <name>.inter and <name>.item with typed headers, titles without years."""
    folder = root / name
    folder.mkdir(parents=True)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"] + [
        _line(r, "\t") for r in ratings
    ]
    (folder / f"{name}.inter").write_text("\n".join(inter) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for movie_id, title, year, genres in MOVIES:
        bare = title.rsplit(" (", 1)[0] if year else title
        items.append(f"{movie_id}\t{bare}\t{year or ''}\t{' '.join(genres)}")
    (folder / f"{name}.item").write_text("\n".join(items) + "\n", encoding="utf-8")
    return folder


def as_zip(folder: Path) -> Path:
    """Zip a dataset folder the way GroupLens does: every file under the folder's own name."""
    target = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return target


def review(user: str, asin: str, overall: object, time: int, **extra: object) -> dict[str, object]:
    return {
        "reviewerID": user,
        "asin": asin,
        "overall": overall,
        "unixReviewTime": time,
        "reviewText": "ok",
    } | extra


REVIEWS = [
    review("A1", "B0001", 5.0, 1200000000),
    review("A1", "B0002", 3.0, 1200000001),
    review("A2", "B0001", 4.0, 1200000002),
    review("A2", "B0001", 2.0, 1300000000),  # the same reviewer again, later: this one counts
    review("A3", "B0003", 1.0, 1200000004),
]


def write_amazon(
    root: Path, *, reviews: list[dict] = REVIEWS, lines: list[str] | None = None, gz: bool = False
) -> tuple[Path, Path, Path]:
    """Reviews (JSON lines), 2018 metadata (JSON lines) and 2014 metadata (Python dict literals)."""
    root.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines if lines is not None else [json.dumps(r) for r in reviews]) + "\n"
    reviews_path = root / ("reviews.json.gz" if gz else "reviews.json")
    reviews_path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    meta_2018 = root / "meta_2018.json"
    meta_2018.write_text(
        "\n".join(
            json.dumps(m)
            for m in [
                {"asin": "B0001", "title": "Alien &amp; Aliens", "category": ["Movies & TV"]},
                {"asin": "B0002", "title": "<span>Heat</span>"},
                {"asin": "B9999", "title": "Never rated"},
            ]
        )
        + "\n"
    )
    meta_2014 = root / "meta_2014.json"
    meta_2014.write_text(
        "{'asin': 'B0001', 'title': 'Alien &amp; Aliens', 'categories': [['Movies & TV']]}\n"
        "{'asin': 'B0002', 'title': \"<span>Heat</span>\", 'salesRank': {'Movies & TV': 5}}\n"
    )
    return reviews_path, meta_2018, meta_2014


# --------------------------------------------------------------------------------------------------
# Titles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Toy Story (1995)", ("Toy Story", 1995)),
        ("Seven (Se7en) (1995)", ("Seven (Se7en)", 1995)),
        ("Hostile Intentions", ("Hostile Intentions", None)),
        ("Matrix, The (1999)", ("The Matrix", 1999)),
        ("Appartement, L' (1996)", ("L'Appartement", 1996)),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            ("The City of Lost Children (Cité des enfants perdus, La)", 1995),
        ),
        ("Babylon 5 (1994) ", ("Babylon 5", 1994)),
        ("Fawlty Towers (1975-1979)", ("Fawlty Towers", 1975)),
        ("1984 (1984)", ("1984", 1984)),
        ("(500) Days of Summer (2009)", ("(500) Days of Summer", 2009)),
        ("Big Bang Theory, The", ("The Big Bang Theory", None)),
        ("unkonwn", ("unkonwn", None)),
    ],
)
def test_title_year_parse(raw: str, expected: tuple[str, int | None]) -> None:
    assert title_year_parse(raw) == expected


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs")), min_size=1, max_size=30
    ),
    st.integers(1870, 2100),
)
def test_any_title_with_a_year_splits_back_into_the_title_and_the_year(title: str, year: int) -> None:
    parsed_title, parsed_year = title_year_parse(f"{title} ({year})")
    assert (parsed_title, parsed_year) == (title_normalise(title), year)


# --------------------------------------------------------------------------------------------------
# Every MovieLens format, as a folder and as a zip


def _movies(data_movies: pd.DataFrame) -> list[tuple]:
    return [
        (row.movie_id, row.title, None if pd.isna(row.year) else int(row.year), row.genres)
        for row in data_movies.itertuples(index=False)
    ]


def _ratings(data_ratings: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in data_ratings.itertuples(index=False)]


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
def test_read_movielens_reads_every_format(
    tmp_path: Path, write, fmt: str, ratings: list[tuple], zipped: bool
) -> None:
    source = write(tmp_path)
    source = as_zip(source) if zipped else source

    data = read_movielens(source)

    assert detect_format(source) == fmt
    assert data.format == fmt
    assert _movies(data.movies) == EXPECTED_MOVIES
    assert _ratings(data.ratings) == ratings
    assert data.ratings.dtypes.astype(str).to_dict() == {
        "user_id": "int64",
        "movie_id": "int64",
        "rating": "float64",
        "timestamp": "int64",
    }
    assert str(data.movies["year"].dtype) == "Int64"
    assert str(data.movies["tmdb_id"].dtype) == "Int64"


def test_links_give_imdb_and_tmdb_ids(tmp_path: Path) -> None:
    data = read_movielens(write_latest(tmp_path))

    assert data.movies["imdb_id"].tolist() == ["tt0114709", "tt0114369", "tt0133093", "tt0113343", None]
    assert data.movies["tmdb_id"].tolist() == [862, 807, 603, pd.NA, pd.NA]


def test_ml_latest_without_links_has_no_external_ids(tmp_path: Path) -> None:
    data = read_movielens(write_latest(tmp_path, links=None))

    assert data.movies["imdb_id"].tolist() == [None] * 5
    assert data.movies["tmdb_id"].isna().all()


def test_half_stars_are_kept_exactly(tmp_path: Path) -> None:
    data = read_movielens(write_latest(tmp_path))

    assert data.ratings["rating"].tolist() == [4.5, 0.5, 3.5, 5.0, 2.5]


def test_format_can_be_forced(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "a")
    write_recbole(folder)  # a RecBole copy inside the ml-100k folder: detection prefers the shallower u.data

    assert read_movielens(folder).format == "ml-100k"
    assert read_movielens(folder, format="recbole").format == "recbole"


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    lines = ["1\t1\t5\t881250949", "", "1\t2\t3\t881250950", "", "2\t1\t9\t881250951"]
    with pytest.raises(DatasetError) as caught:
        read_movielens(write_ml100k(tmp_path, data_lines=lines))

    assert str(caught.value) == "ml-100k/u.data line 5: rating 9 is out of range (0.5..5.0)"


# --------------------------------------------------------------------------------------------------
# Malformed files: the message names the file, the line and what is wrong


@pytest.mark.parametrize(
    ("write", "lines", "message"),
    [
        (write_ml100k, ["1\t1\t5\t881250949", "1\t2\t3"], "ml-100k/u.data line 2: expected 4 fields separated by tabs, found 3"),
        (write_ml100k, ["1\t1\t5\t881250949\t7", "1\t2\t3\t1"], "ml-100k/u.data line 1: expected 4 fields separated by tabs, found 5"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t2\t3\t1\t1"], "ml-100k/u.data line 2: expected 4 fields separated by tabs, found 5"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t2\tfour\t1"], "ml-100k/u.data line 2: rating 'four' is not a number"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t2\t7\t1"], "ml-100k/u.data line 2: rating 7 is out of range (0.5..5.0)"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t2\t3.3\t1"], "ml-100k/u.data line 2: rating 3.3 is not in half stars"),
        (write_ml100k, ["1\t1\t5\t881250949", "x\t2\t3\t1"], "ml-100k/u.data line 2: user id 'x' is not an integer"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t1\t4\t881250950"], "ml-100k/u.data line 2: user 1 rates movie 1 a second time (first on line 1)"),
        (write_ml100k, ["1\t1\t5\t881250949", "1\t99\t4\t1"], "ml-100k/u.data line 2: movie id 99 is not in ml-100k/u.item"),
        (write_ml1m, ["1::1::5::881250949", "1::2::3:1"], "ml-1m/ratings.dat line 2: expected 4 fields separated by '::', found 3"),
        (write_ml1m, ["1::1::5::881250949", "1::99::3::1"], "ml-1m/ratings.dat line 2: movie id 99 is not in ml-1m/movies.dat"),
        (write_latest, ["1,1,4.5,1", "1,2,abc,2"], "ml-latest-small/ratings.csv line 3: rating 'abc' is not a number"),
        (write_latest, ["1,1,4.5,1", "1,2,0,2"], "ml-latest-small/ratings.csv line 3: rating 0 is out of range (0.5..5.0)"),
    ],
)  # fmt: skip
def test_malformed_ratings_name_file_and_line(tmp_path: Path, write, lines: list[str], message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        read_movielens(write(tmp_path, data_lines=lines))

    assert str(caught.value) == message


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    movies = b"movieId,title,genres\n1,Toy Story (1995),Comedy\n" + b"2,Mis\xe9rables (1995),Drama\n"

    with pytest.raises(DatasetError) as caught:
        read_movielens(write_latest(tmp_path, movies_csv=movies, links=None))

    assert str(caught.value) == "ml-latest-small/movies.csv line 3: not valid UTF-8 (byte 0xe9)"
    assert (caught.value.path, caught.value.line) == ("ml-latest-small/movies.csv", 3)


def test_truncated_zip_is_rejected(tmp_path: Path) -> None:
    archive = as_zip(write_ml100k(tmp_path))
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    with pytest.raises(DatasetError) as caught:
        read_movielens(archive)

    assert str(caught.value).startswith("ml-100k.zip: not a readable zip file (truncated or corrupt")


def test_a_folder_without_movielens_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello\n")

    with pytest.raises(DatasetError) as caught:
        read_movielens(tmp_path / "stuff")

    assert str(caught.value) == (
        "stuff: no MovieLens files found (expected u.data, ratings.dat, ratings.csv or a RecBole .inter)"
    )


def test_a_forced_format_whose_files_are_missing_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        read_movielens(write_ml100k(tmp_path), format="ml-1m")

    assert str(caught.value) == "ml-100k: no ratings.dat found (needed by the ml-1m format)"


def test_a_missing_path_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        read_movielens(tmp_path / "nope.zip")

    assert str(caught.value) == f"{tmp_path / 'nope.zip'}: no such file or folder"


# --------------------------------------------------------------------------------------------------
# Amazon


def test_read_amazon_keeps_the_latest_review_and_the_metadata_titles(tmp_path: Path) -> None:
    reviews, meta_2018, meta_2014 = write_amazon(tmp_path)

    for metadata in (meta_2018, meta_2014):
        data = read_amazon(reviews, metadata)

        assert _ratings(data.ratings) == [
            ("A1", "B0001", 5.0, 1200000000),
            ("A1", "B0002", 3.0, 1200000001),
            ("A2", "B0001", 2.0, 1300000000),
            ("A3", "B0003", 1.0, 1200000004),
        ]
        assert _ratings(data.movies) == [("B0001", "Alien & Aliens"), ("B0002", "Heat"), ("B0003", None)]


def test_read_amazon_reads_gzip(tmp_path: Path) -> None:
    reviews, _, _ = write_amazon(tmp_path, gz=True)

    assert len(read_amazon(reviews).ratings) == 4


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (json.dumps(review("A9", "B0001", 7.0, 1)), "reviews.json line 2: overall 7 is out of range (1..5)"),
        (json.dumps(review("A9", "B0001", 2.5, 1)), "reviews.json line 2: overall 2.5 is not a whole number of stars"),
        (json.dumps(review("A9", "B0001", "five", 1)), "reviews.json line 2: overall 'five' is not a number"),
        ('{"reviewerID": "A9", "asin": "B0001"', "reviews.json line 2: not valid JSON (Expecting ',' delimiter at column 37)"),
        (json.dumps({"reviewerID": "A9", "asin": "B1", "unixReviewTime": 1}), "reviews.json line 2: missing the field 'overall'"),
        (json.dumps(review("A9", "B" * 20, 4.0, 1)), f"reviews.json line 2: asin {'B' * 20!r} is not a string of 1 to 16 characters"),
    ],
)  # fmt: skip
def test_malformed_reviews_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    reviews, _, _ = write_amazon(tmp_path, lines=[json.dumps(REVIEWS[0]), line])

    with pytest.raises(DatasetError) as caught:
        read_amazon(reviews)

    assert str(caught.value) == message


def test_truncated_gzip_is_rejected(tmp_path: Path) -> None:
    reviews, _, _ = write_amazon(tmp_path, reviews=REVIEWS * 50, gz=True)
    reviews.write_bytes(reviews.read_bytes()[:-30])

    with pytest.raises(DatasetError) as caught:
        read_amazon(reviews)

    assert caught.value.path == "reviews.json.gz"
    assert "the gzip stream is truncated or corrupt" in caught.value.reason


def test_amazon_filter_drops_rarely_rated_movies_then_users(tmp_path: Path) -> None:
    reviews, meta, _ = write_amazon(tmp_path)

    data = amazon_filter(read_amazon(reviews, meta), min_item_ratings=2, min_user_ratings=1)

    assert _ratings(data.ratings) == [("A1", "B0001", 5.0, 1200000000), ("A2", "B0001", 2.0, 1300000000)]
    assert _ratings(data.movies) == [("B0001", "Alien & Aliens")]


# --------------------------------------------------------------------------------------------------


def test_ml_datasets_never_imports_django() -> None:
    code = "import sys, ml.datasets; sys.exit('django' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[2]).returncode
        == 0
    )
