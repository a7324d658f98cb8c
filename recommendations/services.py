"""Writes of the recommendations app: requesting retrains, promoting and rolling back model versions,
writing persisted lists. Tasks, admin actions, the API and the CLI all call these."""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from knox.models import AuthToken

from .fields import pack_ids, pack_pairs, pack_scores
from .models import ModelVersion, RecommendationList, TrainingRun
from .selectors import (
    LIST_EPOCH_KEY,
    RESPONSE_EPOCH_KEY,
    cache_epoch,
    list_cache_epoch,
    list_cache_key,
    list_cache_value,
    response_auth_key,
    response_auth_key_of_digest,
    response_cache_key,
    response_cache_seconds,
)

logger = logging.getLogger(__name__)


class RetrainAlreadyRunning(Exception):
    def __init__(self, run: TrainingRun | None) -> None:
        self.run = run
        super().__init__(
            f"A retrain is already {run.status} (run #{run.pk})." if run else "A retrain is running."
        )


class EnqueueError(Exception):
    """The broker could not be reached; the request was not recorded."""


def training_run_create(
    *, trigger: str, triggered_by_id: int | None = None, force: bool = False
) -> TrainingRun:
    """Record a queued run, taking the retrain lock. Raises RetrainAlreadyRunning if it is held.

    A run holding the lock without a sign of life for STALE_RUN_SECONDS (its worker was killed) is
    marked failed first, so a crash never blocks retraining for good.
    """
    training_runs_reap_stale(older_than_seconds=settings.RECOMMENDATIONS["STALE_RUN_SECONDS"])
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(trigger=trigger, triggered_by_id=triggered_by_id, force=force)
    except IntegrityError:
        raise RetrainAlreadyRunning(TrainingRun.objects.filter(holds_lock=True).first()) from None


def training_run_request(
    *, trigger: str, triggered_by_id: int | None = None, force: bool = False
) -> TrainingRun:
    """Record a queued run and hand it to a training worker.

    If the broker cannot take the message, the run is recorded as failed (releasing the lock) and
    EnqueueError says why; nothing else changes.
    """
    from .tasks import retrain

    run = training_run_create(trigger=trigger, triggered_by_id=triggered_by_id, force=force)
    try:
        result = retrain.apply_async(kwargs={"run_id": run.pk}, retry=False)
    except Exception as exc:  # kombu raises transport-specific errors (OperationalError, ConnectionError...)
        training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=f"Could not enqueue: {exc}")
        raise EnqueueError(f"The task queue is unreachable: {exc}") from exc
    TrainingRun.objects.filter(pk=run.pk).update(task_id=result.id or "")
    return run


def training_run_finish(*, run: TrainingRun, status: str, error: str = "") -> None:
    run.status = status
    run.holds_lock = None
    run.finished_at = timezone.now()
    if error:
        run.error = error
    run.save(update_fields=["status", "holds_lock", "finished_at", "error"])


def training_runs_reap_stale(*, older_than_seconds: float) -> int:
    """Fail queued/running runs whose worker vanished (no heartbeat for ``older_than_seconds``)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    stale = (
        TrainingRun.objects.filter(holds_lock=True)
        .exclude(heartbeat_at__gte=cutoff)
        .filter(created_at__lt=cutoff)
    )
    count = 0
    for run in stale:
        training_run_finish(
            run=run,
            status=TrainingRun.Status.FAILED,
            error=f"No sign of life from the worker for {older_than_seconds:.0f} s; presumed lost.",
        )
        count += 1
    return count


@transaction.atomic
def model_version_activate(*, version_id: int) -> ModelVersion:
    """Make ``version_id`` the one active model (promotion or roll back) in one transaction."""
    version = ModelVersion.objects.select_for_update().get(pk=version_id)
    ModelVersion.objects.filter(is_active=True).exclude(pk=version_id).update(is_active=False)
    if not version.is_active:
        version.is_active = True
        version.activated_at = timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    transaction.on_commit(recommendation_caches_forget_all)
    return version


def model_version_previous(*, version: ModelVersion) -> ModelVersion | None:
    """The version that was active before ``version`` (the roll back target)."""
    return (
        ModelVersion.objects.exclude(pk=version.pk)
        .filter(activated_at__isnull=False)
        .order_by("-activated_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class ListRow:
    user_id: int
    movie_ids: Sequence[int] | np.ndarray
    scores: Sequence[float] | np.ndarray
    # movie id -> id of the rated movie that explains it; or those pairs as rows of a (k, 2) array
    reasons: Mapping[int, int] | np.ndarray


@dataclass(frozen=True)
class _PackedList:
    """A list as it is stored and cached (`recommendations.fields`): no per-movie Python objects."""

    user_id: int
    movie_ids: bytes
    scores: bytes
    reasons: bytes


def recommendation_lists_write(
    *, version_id: int, rows: Iterable[ListRow], folded_in: bool = False, batch_size: int = 2000
) -> int:
    """Upsert the lists of one version in bulk; each user's list is replaced whole, never merged."""
    now = timezone.now()
    written = 0
    batch: list[_PackedList] = []

    def flush() -> None:
        _lists_upsert(batch, version_id=version_id, folded_in=folded_in, generated_at=now)
        _caches_after_write(batch, version_id=version_id, generated_at=now)

    for row in rows:
        batch.append(
            _PackedList(
                user_id=int(row.user_id),
                movie_ids=pack_ids(row.movie_ids),
                scores=pack_scores(row.scores),
                reasons=pack_pairs(row.reasons),
            )
        )
        if len(batch) >= batch_size:
            flush()
            written += len(batch)
            batch = []
    if batch:
        flush()
        written += len(batch)
    return written


_LIST_COLUMNS = ("user_id", "model_version_id", "movie_ids", "scores", "reasons", "folded_in", "generated_at")
#: PostgreSQL's binary COPY format: signature, flags and header extension length, then the rows, then -1.
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_PGCOPY_TRAILER = struct.pack(">h", -1)
_PGCOPY_LIST_KEY = struct.Struct(">hiqiq")  # field count, then user_id and model_version_id (8 bytes each)
_PGCOPY_LENGTH = struct.Struct(">i")
_POSTGRES_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _lists_upsert(
    lists: Sequence[_PackedList], *, version_id: int, folded_in: bool, generated_at: dt.datetime
) -> None:
    """Insert or replace these lists (one per user and version) in one statement.

    On PostgreSQL the rows go through a binary COPY into a session-local staging table and one
    INSERT ... SELECT ... ON CONFLICT: a bulk refresh writes 138k lists of 100 movies, and the packed
    bytes go to the server as they are, with nothing to quote, encode or parse. Other databases use
    Django's bulk upsert.
    """
    if connection.vendor != "postgresql":
        RecommendationList.objects.bulk_create(
            [
                RecommendationList(
                    user_id=x.user_id,
                    model_version_id=version_id,
                    movie_ids=x.movie_ids,
                    scores=x.scores,
                    reasons=x.reasons,
                    folded_in=folded_in,
                    generated_at=generated_at,
                )
                for x in lists
            ],
            update_conflicts=True,
            unique_fields=["user", "model_version"],
            update_fields=["movie_ids", "scores", "reasons", "folded_in", "generated_at"],
        )
        return
    since = generated_at - _POSTGRES_EPOCH
    micros = (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds
    tail = struct.pack(">ib", 1, folded_in) + struct.pack(">iq", 8, micros)  # folded_in, generated_at
    parts = [_PGCOPY_HEADER]
    for x in lists:
        parts += (
            _PGCOPY_LIST_KEY.pack(len(_LIST_COLUMNS), 8, x.user_id, 8, version_id),
            _PGCOPY_LENGTH.pack(len(x.movie_ids)),
            x.movie_ids,
            _PGCOPY_LENGTH.pack(len(x.scores)),
            x.scores,
            _PGCOPY_LENGTH.pack(len(x.reasons)),
            x.reasons,
            tail,
        )
    parts.append(_PGCOPY_TRAILER)
    table = RecommendationList._meta.db_table
    columns = ", ".join(_LIST_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _LIST_COLUMNS[2:])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS recommendations_list_staging_v2 (user_id bigint, "
            "model_version_id bigint, movie_ids bytea, scores bytea, reasons bytea, folded_in boolean, "
            "generated_at timestamptz)"
        )
        cursor.cursor.copy_expert(
            f"COPY recommendations_list_staging_v2 ({columns}) FROM STDIN WITH (FORMAT binary)",
            io.BytesIO(b"".join(parts)),
        )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM recommendations_list_staging_v2 "
            f"ON CONFLICT (user_id, model_version_id) DO UPDATE SET {updates}"
        )
        # Emptied here rather than ON COMMIT: inside an outer transaction there is no commit yet.
        cursor.execute("TRUNCATE recommendations_list_staging_v2")


#: Up to this many lists written at once update their users' cache entries one by one; more (a
#: refresh of everyone) make every cached list and answer stale at once by bumping the epochs.
_FORGET_ONE_BY_ONE = 100


def _caches_after_write(lists: Sequence[_PackedList], *, version_id: int, generated_at: dt.datetime) -> None:
    """After writing ``lists``: a few of them replace their users' cached lists (active version only)
    and drop those users' cached answers; many (a bulk refresh of the active version) make every cached
    list and answer stale instead, with two key writes rather than two per user. They are cached again
    as they are read. A dead cache is not an error."""
    active = ModelVersion.objects.filter(pk=version_id, is_active=True).exists()
    if len(lists) > _FORGET_ONE_BY_ONE:
        if active:
            recommendation_caches_forget_all()
        return
    if active:
        try:
            epoch = list_cache_epoch()
            values = {
                list_cache_key(x.user_id, epoch): list_cache_value(
                    movie_ids=x.movie_ids,
                    scores=x.scores,
                    reasons=x.reasons,
                    model_version_id=version_id,
                    generated_at=generated_at,
                )
                for x in lists
            }
            cache.set_many(values, settings.RECOMMENDATIONS["CACHE_SECONDS"])
        except Exception:
            logger.warning("Could not cache the new recommendation lists", exc_info=True)
    recommendation_responses_forget(user_ids=[x.user_id for x in lists])


def _epoch_bump(key: str, what: str) -> None:
    try:
        cache.set(key, secrets.token_hex(8), None)
    except Exception:
        logger.warning("Could not bump the %s cache epoch", what, exc_info=True)


def recommendation_cache_forget(*, user_id: int) -> None:
    try:
        cache.delete(list_cache_key(user_id, list_cache_epoch()))
    except Exception:
        logger.warning("Could not drop user %s's cached list", user_id, exc_info=True)
    recommendation_responses_forget(user_ids=[user_id])


# --- Cached API responses (see recommendations.selectors for the keys) -----------------------------


@dataclass(frozen=True)
class ResponseSlot:
    """Where (and under which generation and epoch) a freshly computed answer will be cached."""

    key: str
    user_id: int
    generation: str
    epoch: str


def recommendation_response_slot(
    *, token_key: str, user_id: int, query_string: str, token_expiry: dt.datetime | None = None
) -> ResponseSlot | None:
    """Pin the generation and epoch BEFORE the answer is computed.

    An invalidation that lands while the answer is being computed deletes the auth entry (or bumps the
    epoch), so the answer is stored under a generation that no longer matches and is never served:
    no stale answer can outlive the write that made it stale. None when the cache is unreachable.
    """
    auth_key = response_auth_key(token_key)
    seconds = response_cache_seconds()
    if token_expiry is not None:  # the "valid token" entry must not outlive the token
        seconds = max(1, min(seconds, int((token_expiry - timezone.now()).total_seconds())))
    try:
        found = cache.get_many([auth_key, RESPONSE_EPOCH_KEY])
        auth, epoch = found.get(auth_key), found.get(RESPONSE_EPOCH_KEY)
        if auth is not None and auth[0] != user_id:  # cannot happen with live tokens; be exact anyway
            cache.delete(auth_key)
            return None
        if auth is None:
            auth = (user_id, secrets.token_hex(8))
            if not cache.add(auth_key, auth, seconds):
                auth = cache.get(auth_key)
        if epoch is None:
            epoch = cache_epoch(RESPONSE_EPOCH_KEY)
    except Exception:
        logger.warning("Response cache unreachable; answering uncached", exc_info=True)
        return None
    if auth is None or epoch is None or auth[0] != user_id:
        return None
    return ResponseSlot(
        key=response_cache_key(token_key, query_string), user_id=user_id, generation=auth[1], epoch=epoch
    )


def recommendation_response_store(*, slot: ResponseSlot, body: bytes) -> None:
    try:
        cache.set(slot.key, (slot.user_id, slot.generation, slot.epoch, body), response_cache_seconds())
    except Exception:
        logger.warning("Could not cache a recommendations response", exc_info=True)


def recommendation_responses_forget(*, user_ids: Sequence[int]) -> None:
    """Make every cached answer of these users stale (one SQL query for their tokens, one cache write)."""
    keys = [
        response_auth_key_of_digest(d)
        for d in AuthToken.objects.filter(user_id__in=list(user_ids)).values_list("digest", flat=True)
    ]
    if not keys:
        return
    try:
        cache.delete_many(keys)
    except Exception:
        logger.warning("Could not drop cached responses of users %s", list(user_ids)[:5], exc_info=True)


def recommendation_response_forget_token(*, digest: str) -> None:
    """A revoked token's cached answers must stop being served at once."""
    try:
        cache.delete(response_auth_key_of_digest(digest))
    except Exception:
        logger.warning("Could not drop a revoked token's cached responses", exc_info=True)


def recommendation_responses_forget_all() -> None:
    """Make every cached answer stale (a new model serves, or everyone's list was rewritten)."""
    _epoch_bump(RESPONSE_EPOCH_KEY, "response")


def recommendation_caches_forget_all() -> None:
    """Every cached list and answer is stale (a new version serves): two key writes, whatever the
    number of users; each is cached again from the database when next read."""
    _epoch_bump(LIST_EPOCH_KEY, "list")
    recommendation_responses_forget_all()


def recommendation_lists_prune(*, keep_versions: int = 2) -> int:
    """Delete lists of versions other than the active one and the ``keep_versions`` newest."""
    keep = list(
        ModelVersion.objects.order_by("-is_active", "-created_at").values_list("pk", flat=True)[
            :keep_versions
        ]
    )
    deleted, _ = RecommendationList.objects.exclude(model_version_id__in=keep).delete()
    return deleted


@dataclass(frozen=True)
class Activation:
    version: ModelVersion
    changed: bool
    refresh_queued: bool


def model_version_activate_and_refresh(*, version_id: int) -> Activation:
    """Promote or roll back to ``version_id`` and queue the refresh of every list with it.

    The activation stands even when the queue is unreachable: users keep the lists already persisted
    until the next scheduled refresh (the admin action and the API both report which happened).
    """
    from .tasks import refresh_all

    changed = not ModelVersion.objects.filter(pk=version_id, is_active=True).exists()
    version = model_version_activate(version_id=version_id)
    refresh_queued = False
    if changed:
        try:
            refresh_all.apply_async(kwargs={"version_id": version.pk}, retry=False)
            refresh_queued = True
        except Exception:
            logger.warning("Could not queue refresh_all after activating v%s", version.pk, exc_info=True)
    return Activation(version=version, changed=changed, refresh_queued=refresh_queued)
