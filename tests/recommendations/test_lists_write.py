"""Writing lists in bulk (`lists_write`): each user's list for a version is inserted or
replaced whole, repeatedly within one transaction, with every value stored as given."""

from __future__ import annotations

import pytest

from recommendations.lists import ListRow, lists_write
from recommendations.models import ModelVersion, RecommendationList
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_lists_are_inserted_then_replaced_whole_inside_one_transaction():
    version = ModelVersion.objects.create(artifact_path="/nonexistent", data_fingerprint="x")
    users = UserFactory.create_batch(3)
    movies = MovieFactory.create_batch(4)
    ids = [m.pk for m in movies]

    first = [ListRow(user_id=u.pk, movie_ids=ids, scores=[0.9, 0.5, 0.25, -1.0], reasons={}) for u in users]
    assert lists_write(version_id=version.pk, rows=first, batch_size=2) == 3

    # The test runs in one transaction: a second write must not see the first one's staged rows.
    again = [
        ListRow(user_id=users[0].pk, movie_ids=ids[::-1], scores=[0.123456789, 0.1, 0.0, -0.5],
                reasons={ids[3]: ids[0]}),
    ]  # fmt: skip
    assert lists_write(version_id=version.pk, rows=again, folded_in=True) == 1

    stored = {x.user_id: x for x in RecommendationList.objects.filter(model_version=version)}
    assert len(stored) == 3
    replaced = stored[users[0].pk]
    assert replaced.movie_ids == ids[::-1]
    assert replaced.scores == [0.12346, 0.1, 0.0, -0.5]  # rounded to 5 decimals
    assert replaced.reasons == {ids[3]: ids[0]}
    assert replaced.folded_in is True
    untouched = stored[users[1].pk]
    assert (untouched.movie_ids, untouched.scores, untouched.reasons, untouched.folded_in) == (
        ids,
        [0.9, 0.5, 0.25, -1.0],
        {},
        False,
    )
    assert replaced.generated_at > untouched.generated_at
