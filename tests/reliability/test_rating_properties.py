"""Property-based tests (hypothesis) of the rating service: whatever sequence of ratings, re-ratings
and un-ratings by several members of several movies, with whatever values (valid half stars, other
numbers, NaN, infinities, strings, booleans, None), the stored ratings are exactly the model's, one
per member and movie, invalid values change nothing, and each movie's count and mean are exact."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalog.models import Movie
from ratings.models import HALF_STARS, Rating
from ratings.services import rating_delete, rating_upsert
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db

VALUES = st.one_of(
    st.sampled_from(HALF_STARS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-3, max_value=8),
    st.sampled_from(["4.5", " 3 ", "5.0", "abc", "", "NaN", "inf", "1e309", "4,5", "½"]),
    st.booleans(),
    st.none(),
)
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["rate", "unrate"]), st.integers(0, 2), st.integers(0, 2), VALUES), max_size=30
)


def valid(value: object) -> float | None:
    """The rule, stated independently of the service: a number (not a boolean) that is a half star."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number in HALF_STARS else None


@pytest.fixture
def people_and_movies(db):
    return [UserFactory.create().pk for _ in range(3)], [MovieFactory.create().pk for _ in range(3)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_sequence_of_rating_operations_keeps_ratings_and_statistics_exact(people_and_movies, operations):
    users, movies = people_and_movies
    with transaction.atomic():  # each example starts from the same empty state
        model: dict[tuple[int, int], float] = {}
        for action, u, m, value in operations:
            key = (users[u], movies[m])
            if action == "unrate":
                assert rating_delete(user_id=key[0], movie_id=key[1]) is (key in model)
                model.pop(key, None)
            elif (number := valid(value)) is None:
                with pytest.raises(ValidationError):
                    rating_upsert(user_id=key[0], movie_id=key[1], value=value)
            else:
                result = rating_upsert(user_id=key[0], movie_id=key[1], value=value)
                assert result.created is (key not in model)
                model[key] = number
            stored = {(r.user_id, r.movie_id): r.value for r in Rating.objects.all()}
            assert stored == model
            for movie in Movie.objects.all():
                mine = [v for (_, mid), v in model.items() if mid == movie.pk]
                assert movie.rating_count == len(mine)
                assert math.isclose(movie.rating_mean, sum(mine) / len(mine) if mine else 0.0, abs_tol=1e-9)
        transaction.set_rollback(True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES.filter(lambda v: valid(v) is None))
def test_an_invalid_value_never_changes_an_existing_rating(people_and_movies, value):
    users, movies = people_and_movies
    with transaction.atomic():
        rating_upsert(user_id=users[0], movie_id=movies[0], value=3.5)
        with pytest.raises(ValidationError) as refused:
            rating_upsert(user_id=users[0], movie_id=movies[0], value=value)
        assert "0.5" in refused.value.messages[0]
        assert list(Rating.objects.values_list("value", flat=True)) == [3.5]
        assert Movie.objects.get(pk=movies[0]).rating_mean == 3.5
        transaction.set_rollback(True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    movie_id=st.one_of(
        st.integers(min_value=-(2**63), max_value=0), st.integers(min_value=10**6, max_value=2**63 - 1)
    )
)
@example(movie_id=-(2**63))  # the smallest bigint: a `%s::bigint` placeholder overflowed on it
@example(movie_id=2**63 - 1)
def test_rating_a_movie_that_does_not_exist_is_refused(people_and_movies, movie_id):
    users, _ = people_and_movies
    with pytest.raises(ValidationError) as refused:
        rating_upsert(user_id=users[0], movie_id=movie_id, value=4.0)
    assert refused.value.code == "unknown_movie"
    assert not Rating.objects.exists()
