"""The database itself enforces the rating rules, not only the forms."""

import pytest
from django.db import IntegrityError, transaction

from ratings.models import HALF_STARS, Rating
from tests.factories import MovieFactory, RatingFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_half_stars_are_the_ten_values_from_half_to_five():
    assert HALF_STARS == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


@pytest.mark.parametrize("value", HALF_STARS)
def test_every_half_star_is_stored_exactly(value):
    rating = RatingFactory(value=value)
    assert Rating.objects.get(pk=rating.pk).value == value


@pytest.mark.parametrize("value", [0.0, 0.25, 3.3, 5.5, 7.0, -1.0])
def test_check_constraint_rejects_values_off_the_half_star_grid(value):
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingFactory(value=value)
    assert Rating.objects.count() == 0


def test_one_rating_per_user_and_movie():
    user, movie = UserFactory(), MovieFactory()
    RatingFactory(user=user, movie=movie)
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingFactory(user=user, movie=movie, value=2.0)
    assert Rating.objects.filter(user=user, movie=movie).count() == 1
