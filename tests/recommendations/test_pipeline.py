"""The retrain pipeline end to end on a tiny planted world, in this process (the worker path is
covered by tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratings.models import Rating
from ratings.services import hidden_add, rating_upsert
from recommendations import serving
from recommendations.models import ModelVersion, RecommendationList, TrainingRun
from recommendations.pipeline import retrain_execute
from recommendations.refresh import list_refresh_user
from recommendations.registry import training_run_create
from recommendations.serving import recommendations_for_user
from tests.factories import UserFactory

from .conftest import CLUSTERS

pytestmark = pytest.mark.django_db


def run_retrain(force: bool = False) -> TrainingRun:
    run = training_run_create(trigger="cli", force=force)
    retrain_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_retrain_trains_promotes_and_fills_a_list_for_every_user(tiny_model, world):
    run = run_retrain()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.holds_lock is None
    assert (run.n_users, run.n_movies, run.n_ratings) == (60, 45, 60 * 13)
    assert set(run.phase_seconds) == {"load", "train", "evaluate", "save", "refresh"}
    assert run.progress == 1.0
    assert run.metrics_test["ndcg@10"] > 0
    version = ModelVersion.objects.get(is_active=True)
    assert version.training_run == run
    assert Path(version.artifact_path, "metadata.json").is_file()
    assert not any(
        p.name.startswith(".") for p in Path(version.artifact_path).parent.iterdir()
    )  # no temp dirs
    assert RecommendationList.objects.filter(model_version=version).count() == 60

    # Lists never contain rated movies, and the planted taste is recovered: most picks are in the
    # user's own cluster (chance would be 5 of 32 unrated movies).
    own_cluster_share = []
    for name in CLUSTERS:
        for user in world.users[name]:
            listed = RecommendationList.objects.get(user=user, model_version=version)
            rated = set(Rating.objects.filter(user=user).values_list("movie_id", flat=True))
            assert not rated & set(listed.movie_ids)
            top5 = listed.movie_ids[:5]
            own_cluster_share.append(sum(world.cluster_of(m) == name for m in top5) / 5)
    assert sum(own_cluster_share) / len(own_cluster_share) > 0.6


def test_reasons_name_a_movie_the_user_liked(tiny_model, world):
    run_retrain()
    user = world.users["Comedy"][0]
    picks = recommendations_for_user(user_id=user.pk, n=5)
    assert picks.source == "model"
    liked = set(Rating.objects.filter(user=user, value__gte=4).values_list("movie_id", flat=True))
    explained = [p for p in picks.picks if p.because_movie_id]
    assert explained, "no pick carries a reason"
    for pick in explained:
        assert pick.because_movie_id in liked
        assert pick.reason.startswith("Because you liked ")


def test_unchanged_data_is_skipped_unless_forced(tiny_model, world):
    first = run_retrain()
    second = run_retrain()
    assert second.status == TrainingRun.Status.SKIPPED
    assert ModelVersion.objects.count() == 1
    forced = run_retrain(force=True)
    assert forced.status == TrainingRun.Status.SUCCEEDED
    assert forced.baseline_metrics_test["ndcg@10"] == pytest.approx(first.metrics_test["ndcg@10"], abs=0.2)
    assert ModelVersion.objects.get(is_active=True).training_run == forced


def test_a_worse_model_is_rejected_and_nothing_served_changes(tiny_model, world, settings):
    run_retrain()
    active = ModelVersion.objects.get(is_active=True)
    lists_before = list(RecommendationList.objects.order_by("pk").values_list("pk", "movie_ids"))
    # Demand the new model beat the active one by a full NDCG point: impossible, so it is rejected.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "PROMOTION_TOLERANCE": -1.0}
    rejected = run_retrain(force=True)
    assert rejected.status == TrainingRun.Status.REJECTED
    assert "below the active model's" in rejected.error
    assert ModelVersion.objects.get(is_active=True) == active
    assert ModelVersion.objects.count() == 1
    assert list(RecommendationList.objects.order_by("pk").values_list("pk", "movie_ids")) == lists_before


def test_no_ratings_fails_with_a_clear_error(tiny_model, db):
    run = run_retrain()
    assert run.status == TrainingRun.Status.FAILED
    assert run.error == "There are no ratings to train on."
    assert run.holds_lock is None
    assert not ModelVersion.objects.exists()


def test_unwritable_model_dir_fails_and_keeps_the_active_model(tiny_model, world, tmp_path):
    run_retrain()
    active = ModelVersion.objects.get(is_active=True)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the model directory should be")
    tiny_model.MODEL_DIR = blocker
    failed = run_retrain(force=True)
    assert failed.status == TrainingRun.Status.FAILED
    assert "not-a-dir" in failed.error
    assert ModelVersion.objects.get(is_active=True) == active
    assert ModelVersion.objects.count() == 1


def test_fold_in_personalises_a_new_member_without_retraining(tiny_model, world):
    run_retrain()
    version = ModelVersion.objects.get(is_active=True)
    newcomer = UserFactory()
    for movie in world.movies["Drama"][:5]:
        rating_upsert(user_id=newcomer.pk, movie_id=movie.pk, value=5)
    assert list_refresh_user(user_id=newcomer.pk) is True

    listed = RecommendationList.objects.get(user=newcomer, model_version=version)
    assert listed.folded_in is True
    assert [world.cluster_of(m) for m in listed.movie_ids[:5]] == ["Drama"] * 5
    picks = recommendations_for_user(user_id=newcomer.pk, n=5)
    assert (picks.source, picks.model_version_id, picks.personal) == ("model", version.pk, True)
    assert ModelVersion.objects.count() == 1  # no retrain happened


def test_a_picks_stars_are_what_its_movie_page_shows_and_never_rise_down_the_list(tiny_model, world):
    tiny_model.RECOMMENDATIONS = {
        **tiny_model.RECOMMENDATIONS,
        "LIST_LENGTH": 12,
    }  # shorter than the catalogue
    run_retrain()
    member = UserFactory()
    liked = world.movies["Drama"][:4]
    for movie, value in zip([*liked, world.movies["Comedy"][0]], [5, 4.5, 4, 4, 1.5], strict=True):
        rating_upsert(user_id=member.pk, movie_id=movie.pk, value=value)
    list_refresh_user(user_id=member.pk)

    picks = recommendations_for_user(user_id=member.pk, n=12)
    assert picks.stars is not None
    assert all(p.movie_id in picks.stars for p in picks.picks)  # every pick has stars
    shown = [picks.stars[p.movie_id] for p in picks.picks]
    assert shown == sorted(shown, reverse=True)
    # a movie page, a list card: the same stars for the same movie, by construction
    assert serving.predicted_stars_many(
        user_id=member.pk, movie_ids=[p.movie_id for p in picks.picks]
    ) == dict(zip([p.movie_id for p in picks.picks], shown, strict=True))
    # a movie outside the list: computed now, and no higher
    # than the list's last pick
    listed = set(RecommendationList.objects.get(user=member, model_version__is_active=True).movie_ids)
    rated = {m.pk for m in [*liked, world.movies["Comedy"][0]]}
    outside = [m.pk for group in world.movies.values() for m in group if m.pk not in listed | rated]
    assert outside
    other = serving.predicted_stars_many(user_id=member.pk, movie_ids=outside[:1])
    assert other[outside[0]] <= min(shown)


def test_one_batch_refreshes_every_noted_member_as_one_by_one_would_and_clears_their_notes(tiny_model, world):
    """The worker's batch (`lists_refresh_noted`): one fold-in and scoring for many members gives each
    the list a refresh of that member alone gives, and clears exactly the notes it saw."""
    from ratings.models import StaleListNote
    from recommendations.refresh import lists_refresh_noted

    run_retrain()
    version = ModelVersion.objects.get(is_active=True)
    newcomers = {name: UserFactory() for name in CLUSTERS}
    for name, member in newcomers.items():
        for movie in world.movies[name][:4]:
            rating_upsert(user_id=member.pk, movie_id=movie.pk, value=5)
    hider = world.users["Action"][0]
    hidden_add(user_id=hider.pk, movie_id=world.movies["Action"][-1].pk)
    noted = {*(m.pk for m in newcomers.values()), hider.pk}
    assert set(StaleListNote.objects.values_list("user_id", flat=True)) == noted

    assert lists_refresh_noted(limit=100) == len(noted)
    assert StaleListNote.objects.count() == 0
    batched = {
        u: (list(m), list(s))
        for u, m, s in RecommendationList.objects.filter(
            user_id__in=noted, model_version=version
        ).values_list("user_id", "movie_ids", "scores")
    }
    assert set(batched) == noted
    for name, member in newcomers.items():
        assert [world.cluster_of(m) for m in batched[member.pk][0][:3]] == [name] * 3
    assert world.movies["Action"][-1].pk not in batched[hider.pk][0]
    for user_id in noted:
        list_refresh_user(user_id=user_id)
        alone = RecommendationList.objects.get(user_id=user_id, model_version=version)
        assert list(alone.movie_ids) == batched[user_id][0]
        assert list(alone.scores) == pytest.approx(
            batched[user_id][1], abs=2e-5
        )  # the stored precision, give or take a unit


def test_hidden_and_newly_rated_movies_never_come_back(tiny_model, world):
    run_retrain()
    user = world.users["Action"][0]
    first, second = recommendations_for_user(user_id=user.pk, n=2).picks
    hidden_add(user_id=user.pk, movie_id=first.movie_id)
    rating_upsert(user_id=user.pk, movie_id=second.movie_id, value=3)
    # Filtered at read time at once, before any refresh ...
    shown = {p.movie_id for p in recommendations_for_user(user_id=user.pk, n=40).picks}
    assert not {first.movie_id, second.movie_id} & shown
    # ... and excluded from the recomputed list too.
    list_refresh_user(user_id=user.pk)
    listed = RecommendationList.objects.get(user=user, model_version__is_active=True)
    assert not {first.movie_id, second.movie_id} & set(listed.movie_ids)


def test_a_refresh_read_and_scored_in_many_user_ranges_writes_the_same_lists(tiny_model, world, settings):
    """The pipelined refresh (read range k+1, score range k, write range k-1) matches one big range,
    whether it reads the ratings itself or is handed them (the retrain's path)."""
    from recommendations.rating_arrays import ratings_as_arrays
    from recommendations.refresh import lists_compute_and_write, lists_refresh_all

    hidden_add(user_id=world.users["Comedy"][0].pk, movie_id=world.movies["Drama"][0].pk)
    run_retrain()
    version = ModelVersion.objects.get(is_active=True)

    def stored() -> dict[int, tuple[list[int], list[float], dict[int, int]]]:
        rows = RecommendationList.objects.filter(model_version=version)
        return {x.user_id: (x.movie_ids, x.scores, x.reasons) for x in rows}

    def assert_same(lists: dict, expected: dict) -> None:
        """Same movies and reasons; scores to the stored precision give or take one unit in the
        last place (BLAS sums a 3-user block and a 60-user block in different orders)."""
        assert lists.keys() == expected.keys()
        for user, (movies, scores, reasons) in lists.items():
            assert (movies, reasons) == (expected[user][0], expected[user][2])
            assert scores == pytest.approx(expected[user][1], abs=2e-5)

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "REFRESH_READ_USERS": 100_000}
    assert lists_refresh_all() == 60
    whole = stored()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "REFRESH_READ_USERS": 7, "REFRESH_CHUNK_USERS": 3}
    RecommendationList.objects.all().delete()
    assert lists_refresh_all() == 60
    assert_same(stored(), whole)
    RecommendationList.objects.all().delete()
    assert lists_compute_and_write(version=version, data=ratings_as_arrays()) == 60
    assert_same(stored(), whole)
    assert world.movies["Drama"][0].pk not in whole[world.users["Comedy"][0].pk][0]
