"""Serving: a user's recommendations from cache, then the persisted list, then a fallback.

Every answer says where it came from (model version or fallback name) and when it was made, and
movies the user has rated or hidden since the list was computed are filtered out again here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from knox.crypto import hash_token

from catalog.models import Movie
from ratings.models import Rating
from ratings.selectors import user_excluded_movie_ids

from .fields import pack_ids, pack_pairs, pack_scores, unpack_ids, unpack_pairs, unpack_scores
from .models import ModelVersion, RecommendationList, TrainingRun

LIKED_THRESHOLD = 4.0


@dataclass(frozen=True)
class Pick:
    movie_id: int
    score: float
    reason: str
    because_movie_id: int | None = None


@dataclass(frozen=True)
class RecommendationSet:
    picks: list[Pick]
    source: str  # "model" or a fallback name: "popular", "popular-in-your-genres"
    model_version_id: int | None
    generated_at: dt.datetime
    personal: bool
    movies: dict[int, Movie] = field(default_factory=dict, compare=False)


#: Bumped when many lists change at once (a bulk refresh, a new model serving): every cached list is
#: then stale after one key write, and lists are cached again as they are next read. One-user changes
#: (fold-in, a rating) rewrite or drop that user's key instead.
LIST_EPOCH_KEY = "recs:list-epoch:v1"


def list_cache_key(user_id: int, epoch: str) -> str:
    return f"recs:list:v3:{epoch}:{user_id}"


def cache_epoch(key: str) -> str:
    """The current epoch under ``key``, created on first use (or after the cache lost it: everything
    cached under the old one is then unreachable, which is safe). Raises when the cache is unreachable."""
    epoch = cache.get(key)
    if epoch is None:
        cache.add(key, secrets.token_hex(8), None)  # add: concurrent creators agree on one epoch
        epoch = cache.get(key)
    return str(epoch)


def list_cache_epoch() -> str:
    return cache_epoch(LIST_EPOCH_KEY)


def list_cache_value(
    *, movie_ids: bytes, scores: bytes, reasons: bytes, model_version_id: int, generated_at: dt.datetime
) -> tuple[bytes, bytes, bytes, int, dt.datetime]:
    """A persisted list as the cache holds it: its packed columns as stored (cheap to pickle)."""
    return (movie_ids, scores, reasons, model_version_id, generated_at)


def _list_from_cache(value: tuple[bytes, bytes, bytes, int, dt.datetime]) -> dict[str, Any]:
    movie_ids, scores, reasons, model_version_id, generated_at = value
    return {
        "movie_ids": unpack_ids(movie_ids),
        "scores": unpack_scores(scores),
        "reasons": unpack_pairs(reasons),
        "model_version_id": model_version_id,
        "generated_at": generated_at,
    }


# --- Cached API responses (the serving fast path) --------------------------------------------------
#
# A cached `GET /api/v1/me/recommendations/` is answered with ONE cache round trip and no SQL: one
# get_many of three keys, all derived from the request alone:
#   auth  recs:auth:v1:<sha256(token)>            -> (user_id, generation)   "this token is valid"
#   resp  recs:resp:v1:<sha256(token)>:<params>    -> (user_id, generation, epoch, JSON bytes)
#   epoch recs:resp-epoch:v1                       -> epoch (bumped when every cached answer is stale)
# The answer is served only when all three agree. Invalidating one user (a rating, a hide, a new list,
# a revoked token, a deactivated account) deletes their token's auth entry: the next request misses,
# authenticates through DRF as usual and starts a new generation, so every older response of that
# user is dead with a single key write. Tokens are hashed so the cache never holds a usable secret.

RESPONSE_EPOCH_KEY = "recs:resp-epoch:v1"
#: Query parameters the endpoint understands; anything else (e.g. ?format=) takes the normal path.
RESPONSE_PARAMS = frozenset({"n", "genre", "decade"})


@dataclass(frozen=True)
class CachedResponse:
    body: bytes


def token_digest(token_key: str) -> str:
    """The stored digest of an API token (django-rest-knox's), so a revoked token's entries can be
    found from the database row alone."""
    return str(hash_token(token_key))


def response_auth_key(token_key: str) -> str:
    return response_auth_key_of_digest(token_digest(token_key))


def response_auth_key_of_digest(digest: str) -> str:
    return f"recs:auth:v1:{digest}"


def response_cache_key(token_key: str, query_string: str) -> str:
    params = hashlib.sha1(query_string.encode(), usedforsecurity=False).hexdigest()[:20]
    return f"recs:resp:v1:{token_digest(token_key)}:{params}"


def response_cache_seconds() -> int:
    """How long a cached answer lives at most. It bounds staleness of what no event invalidates:
    other members' ratings changing a movie's count and mean, and popularity fallbacks."""
    return int(settings.RECOMMENDATIONS.get("RESPONSE_CACHE_SECONDS", 300))


def recommendations_cached_response(*, token_key: str, query_string: str) -> CachedResponse | None:
    """The cached JSON of this token's request with these parameters, if still valid (one round trip).

    None on any miss, mismatch or cache error: the caller then takes the normal path.
    """
    auth_key = response_auth_key(token_key)
    resp_key = response_cache_key(token_key, query_string)
    try:
        found = cache.get_many([auth_key, resp_key, RESPONSE_EPOCH_KEY])
    except Exception:  # a dead cache must not take serving down
        return None
    auth, resp, epoch = found.get(auth_key), found.get(resp_key), found.get(RESPONSE_EPOCH_KEY)
    if auth is None or resp is None or epoch is None:
        return None
    user_id, generation = auth
    resp_user, resp_generation, resp_epoch, body = resp
    if (resp_user, resp_generation, resp_epoch) != (user_id, generation, epoch):
        return None
    return CachedResponse(body=body)


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def _persisted_list(user_id: int) -> dict[str, Any] | None:
    """The user's list as a plain dict, from cache or database (active version first, then newest)."""
    try:
        key: str | None = list_cache_key(user_id, list_cache_epoch())
        cached = cache.get(key)
    except Exception:  # a dead cache must not take serving down; the database still answers
        key = cached = None
    if cached is not None:
        return _list_from_cache(cached) if cached else None  # () caches "no list"
    # Only versions that have served (activated_at set): a version left behind by a killed retrain,
    # never promoted, must never reach users.
    row = (
        RecommendationList.objects.filter(user_id=user_id, model_version__activated_at__isnull=False)
        .order_by("-model_version__is_active", "-generated_at")
        .values("movie_ids", "scores", "reasons", "model_version_id", "generated_at")
        .first()
    )
    value = (
        list_cache_value(
            movie_ids=pack_ids(row["movie_ids"]),
            scores=pack_scores(row["scores"]),
            reasons=pack_pairs(row["reasons"]),
            model_version_id=row["model_version_id"],
            generated_at=row["generated_at"],
        )
        if row
        else ()
    )
    if key is not None:
        with contextlib.suppress(Exception):
            cache.set(key, value, settings.RECOMMENDATIONS["CACHE_SECONDS"])
    return dict(row) if row else None


def recommendations_for_user(
    *, user_id: int, n: int = 20, genre: str | None = None, decade: int | None = None
) -> RecommendationSet:
    """Up to ``n`` picks for ``user_id``, optionally only in ``genre`` and the ``decade`` (e.g. 1990)."""
    excluded = user_excluded_movie_ids(user_id=user_id)
    persisted = _persisted_list(user_id)
    if persisted:
        allowed = _filter_movies(persisted["movie_ids"], genre=genre, decade=decade)
        movies = Movie.objects.in_bulk(allowed)
        reasons = persisted.get("reasons") or {}
        because_titles = Movie.objects.in_bulk([int(v) for v in reasons.values()]) if reasons else {}
        picks = []
        for movie_id, score in zip(persisted["movie_ids"], persisted["scores"], strict=True):
            if movie_id in excluded or movie_id not in movies:
                continue
            because = reasons.get(movie_id)
            because_movie = because_titles.get(int(because)) if because else None
            reason = f"Because you liked {because_movie}" if because_movie else "Matches your taste"
            picks.append(Pick(movie_id, float(score), reason, because_movie.pk if because_movie else None))
            if len(picks) >= n:
                break
        if picks:
            return RecommendationSet(
                picks=picks,
                source="model",
                model_version_id=persisted["model_version_id"],
                generated_at=persisted["generated_at"],
                personal=True,
                movies=movies,
            )
    return _fallback(user_id=user_id, excluded=excluded, n=n, genre=genre, decade=decade)


def _movies_filtered(*, genre: str | None, decade: int | None) -> QuerySet[Movie]:
    movies = Movie.objects.all()
    if genre:
        movies = movies.filter(genres__name=genre)
    if decade is not None:
        movies = movies.filter(year__gte=decade, year__lt=decade + 10)
    return movies


def _filter_movies(movie_ids: list[int], *, genre: str | None, decade: int | None) -> list[int]:
    if not genre and decade is None:
        return movie_ids
    return list(
        _movies_filtered(genre=genre, decade=decade).filter(pk__in=movie_ids).values_list("pk", flat=True)
    )


def favourite_genres(*, user_id: int, limit: int = 3) -> list[str]:
    """The genres of the movies the user liked most often, most frequent first."""
    names = Rating.objects.filter(user_id=user_id, value__gte=LIKED_THRESHOLD).values_list(
        "movie__genres__name", flat=True
    )
    counts = Counter(name for name in names if name)
    return [name for name, _ in counts.most_common(limit)]


def _fallback(
    *, user_id: int, excluded: set[int], n: int, genre: str | None, decade: int | None
) -> RecommendationSet:
    """Popular movies the user has not seen: in the genres they like when they liked anything."""
    liked_genres = [] if genre else favourite_genres(user_id=user_id)
    movies = _movies_filtered(genre=genre, decade=decade).exclude(pk__in=excluded)
    if liked_genres:
        movies = movies.filter(genres__name__in=liked_genres).distinct()
        source, reason = "popular-in-your-genres", f"Popular in {', '.join(liked_genres)}, which you like"
    else:
        source, reason = "popular", "Popular with everyone" if not genre else f"Popular in {genre}"
    top = list(movies.order_by("-rating_count", "-rating_mean", "pk")[:n])
    picks = [Pick(m.pk, float(m.rating_count), reason) for m in top]
    return RecommendationSet(
        picks=picks,
        source=source,
        model_version_id=None,
        generated_at=timezone.now(),
        personal=bool(liked_genres),
        movies={m.pk: m for m in top},
    )


def movie_similar(*, movie_id: int, n: int = 10) -> list[Movie]:
    """Movies like ``movie_id``: from the active model's item representation when it knows the movie,
    else the most popular movies sharing its genres."""
    from .serving import similar_movie_ids

    ids = similar_movie_ids(movie_id=movie_id, n=n)
    if ids:
        found = Movie.objects.in_bulk(ids)
        return [found[i] for i in ids if i in found]
    genres = Movie.objects.filter(pk=movie_id).values_list("genres", flat=True)
    return list(
        Movie.objects.filter(genres__in=[g for g in genres if g is not None])
        .exclude(pk=movie_id)
        .distinct()
        .order_by("-rating_count", "pk")[:n]
    )


def predicted_stars(*, user_id: int, movie_id: int) -> float | None:
    """The active model's predicted rating of ``movie_id`` for ``user_id`` (None without a model)."""
    from .serving import predict_user_stars

    return predict_user_stars(user_id=user_id, movie_ids=[movie_id]).get(movie_id)


def predicted_stars_many(*, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """Predicted stars of several movies for ``user_id`` at once (one fold-in); {} without a model."""
    from .serving import predict_user_stars

    return predict_user_stars(user_id=user_id, movie_ids=movie_ids)


def training_run_list() -> QuerySet[TrainingRun]:
    """Training runs, newest first, with what their pages show joined in."""
    return TrainingRun.objects.select_related("triggered_by", "model_version").order_by("-created_at", "-pk")


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at", "-pk")
