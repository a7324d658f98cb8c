"""GET /api/v1/me/recommendations/: the list, where it came from, predicted stars; fallbacks without a model."""

import datetime as dt

import pytest

from ratings.services import hidden_add, rating_upsert
from recommendations.lists import ListRow, lists_write
from recommendations.models import ModelVersion
from recommendations.registry import model_version_activate
from tests.factories import GenreFactory, MovieFactory

from .support import error_of

pytestmark = pytest.mark.django_db

RECS = "/api/v1/me/recommendations/"


@pytest.fixture
def popular(db):
    """12 movies, most popular first; even ones are comedies, odd ones dramas from the 1980s."""
    comedy, drama = GenreFactory.create(name="Comedy"), GenreFactory.create(name="Drama")
    movies = []
    for i in range(12):
        movie = MovieFactory.create(title=f"Pop {i}", year=1995 if i % 2 == 0 else 1985, rating_count=100 - i)
        movie.genres.set([comedy if i % 2 == 0 else drama])
        movies.append(movie)
    return movies


def item_ids(body: dict) -> list[int]:
    return [item["movie"]["id"] for item in body["items"]]


def test_without_a_model_the_list_is_popular_movies_not_rated_or_hidden(member_client, member, popular):
    rating_upsert(user_id=member.pk, movie_id=popular[0].pk, value=2)
    hidden_add(user_id=member.pk, movie_id=popular[1].pk)
    response = member_client.get(RECS, {"n": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "popular"
    assert body["model_version_id"] is None
    assert body["personal"] is False
    assert dt.datetime.fromisoformat(body["generated_at"].replace("Z", "+00:00"))
    assert item_ids(body) == [m.pk for m in popular[2:7]]
    first = body["items"][0]
    assert first == {
        "rank": 1,
        "movie": {
            "id": popular[2].pk,
            "title": "Pop 2",
            "year": 1995,
            "genres": ["Comedy"],
            "rating_count": 98,
            "rating_mean": 0.0,
        },
        "score": 98.0,
        "predicted_stars": None,
        "reason": "Popular with everyone",
        "because_movie_id": None,
    }


def test_default_n_and_filters(member_client, popular):
    assert len(member_client.get(RECS).json()["items"]) == 12  # all there are (default n=20)
    dramas = member_client.get(RECS, {"genre": "Drama", "n": 3}).json()
    assert item_ids(dramas) == [popular[1].pk, popular[3].pk, popular[5].pk]
    eighties = member_client.get(RECS, {"decade": 1980}).json()
    assert item_ids(eighties) == [m.pk for m in popular[1::2]]


def test_members_who_liked_something_get_their_genres(member_client, member, popular):
    rating_upsert(user_id=member.pk, movie_id=popular[3].pk, value=5)  # a drama
    body = member_client.get(RECS, {"n": 3}).json()
    assert body["source"] == "popular-in-your-genres"
    assert body["personal"] is True
    assert item_ids(body) == [popular[1].pk, popular[5].pk, popular[7].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"n": 0}, "n"),
        ({"n": 101}, "n"),
        ({"n": "ten"}, "n"),
        ({"decade": 1985}, "decade"),
        ({"genre": "\x00"}, "genre"),
    ],
)
def test_bad_parameters_are_a_400(member_client, db, params, field):
    response = member_client.get(RECS, params)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_a_model_list_says_which_version_made_it_and_why(member_client, member, popular, monkeypatch):
    liked = popular[11]
    rating_upsert(user_id=member.pk, movie_id=liked.pk, value=5)
    version = ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="f")
    model_version_activate(version_id=version.pk)
    ranked = [popular[5], popular[9], liked, popular[2]]  # the rated one is filtered at read time
    lists_write(
        version_id=version.pk,
        rows=[
            ListRow(
                user_id=member.pk,
                movie_ids=[m.pk for m in ranked],
                scores=[0.9, 0.8, 0.7, 0.6],
                reasons={popular[5].pk: liked.pk},
                stars=[4.34, 4.2, 4.1, float("nan")],
            )
        ],
    )
    from recommendations import serving

    def not_called(**kwargs):
        raise AssertionError("the list's own stars are served")

    monkeypatch.setattr(serving, "predicted_stars_many", not_called)
    body = member_client.get(RECS, {"n": 10}).json()
    assert (body["source"], body["model_version_id"], body["personal"]) == ("model", version.pk, True)
    assert item_ids(body) == [popular[5].pk, popular[9].pk, popular[2].pk]
    assert [i["rank"] for i in body["items"]] == [1, 2, 3]
    assert [i["score"] for i in body["items"]] == [0.9, 0.8, 0.6]
    # stored with the list, to one decimal; a pick the model has no stars for shows none
    assert [i["predicted_stars"] for i in body["items"]] == [4.3, 4.2, None]
    assert body["items"][0]["because_movie_id"] == liked.pk
    assert body["items"][0]["reason"] == f"Because you liked {liked}"
    assert body["items"][1]["because_movie_id"] is None


def test_a_list_stored_without_stars_gets_the_models_stars_now(member_client, member, popular, monkeypatch):
    version = ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="f")
    model_version_activate(version_id=version.pk)
    ranked = [popular[5], popular[9]]
    lists_write(
        version_id=version.pk,
        rows=[ListRow(user_id=member.pk, movie_ids=[m.pk for m in ranked], scores=[0.9, 0.8], reasons={})],
    )
    from recommendations import serving

    monkeypatch.setattr(
        serving,
        "predicted_stars_many",
        lambda *, user_id, movie_ids: {m: 4.0 - i / 10 for i, m in enumerate(movie_ids)},
    )
    body = member_client.get(RECS, {"n": 10}).json()
    assert [i["predicted_stars"] for i in body["items"]] == [4.0, 3.9]


def test_a_failing_model_extra_leaves_predicted_stars_empty(member_client, popular, monkeypatch):
    from recommendations import serving

    def broken(**kwargs):
        raise RuntimeError("no artifact")

    monkeypatch.setattr(serving, "predicted_stars_many", broken)
    response = member_client.get(RECS, {"n": 2})
    assert response.status_code == 200
    assert [i["predicted_stars"] for i in response.json()["items"]] == [None, None]


@pytest.mark.parametrize("params", [{"n": 10}, {"n": 2}, {"genre": "Drama"}, {"decade": 1990}])
def test_the_hand_rendered_answer_is_what_the_schema_serializer_renders(
    member_client, member, popular, params
):
    from django.db.models import prefetch_related_objects

    from recommendations import serving
    from recommendations.api.serializers import RecommendationListOutputSerializer

    rating_upsert(user_id=member.pk, movie_id=popular[11].pk, value=5)
    version = ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="f")
    model_version_activate(version_id=version.pk)
    ranked = [popular[5], popular[4], popular[9], popular[2], popular[3]]
    lists_write(
        version_id=version.pk,
        rows=[
            ListRow(
                user_id=member.pk,
                movie_ids=[m.pk for m in ranked],
                scores=[0.9, 0.8, 0.7, 0.6, 0.5],
                reasons={popular[5].pk: popular[11].pk},
            )
        ],
    )
    body = member_client.get(RECS, params).json()
    recs = serving.recommendations_for_user(user_id=member.pk, **{"n": 20, **params})
    movies = [recs.movies[p.movie_id] for p in recs.picks]
    prefetch_related_objects(movies, "genres")
    expected = RecommendationListOutputSerializer(
        {
            "source": recs.source,
            "model_version_id": recs.model_version_id,
            "generated_at": recs.generated_at,
            "personal": recs.personal,
            "items": [
                {
                    "rank": rank,
                    "movie": recs.movies[p.movie_id],
                    "score": p.score,
                    "predicted_stars": None,  # the artifact does not exist
                    "reason": p.reason,
                    "because_movie_id": p.because_movie_id,
                }
                for rank, p in enumerate(recs.picks, start=1)
            ],
        }
    ).data
    assert body["items"]
    assert body == expected
