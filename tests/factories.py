"""factory_boy factories shared by the whole suite."""

import datetime as dt

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import User
from catalog.models import Genre, Movie
from ratings.models import Rating


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"member{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class DatasetUserFactory(UserFactory):
    dataset_source = "movielens"
    dataset_user_id = factory.Sequence(lambda n: str(n + 1))
    username = factory.LazyAttribute(lambda u: f"{u.dataset_source}:{u.dataset_user_id}")
    password = factory.LazyFunction(lambda: make_password(None))  # unusable: cannot log in


class GenreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Genre
        django_get_or_create = ("name",)

    name = factory.Iterator(["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"])


class MovieFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Movie

    title = factory.Sequence(lambda n: f"Movie {n}")
    year = factory.Sequence(lambda n: 1950 + n % 70)
    # Statistics a test sets without ratings stay consistent: the half-star sum matches count x mean.
    rating_count = 0
    rating_mean = 0.0
    rating_sum_half = factory.LazyAttribute(lambda movie: round(movie.rating_count * movie.rating_mean * 2))


class RatingFactory(factory.django.DjangoModelFactory):
    """Writes a rating row directly. Tests of behaviour go through ratings.services instead."""

    class Meta:
        model = Rating

    user = factory.SubFactory(UserFactory)
    movie = factory.SubFactory(MovieFactory)
    value = 4.0
    created_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    updated_at = factory.LazyAttribute(lambda r: r.created_at)
