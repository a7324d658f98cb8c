"""Every cache entry of the recommendations app: its keys, what may read it, and how it is invalidated.

Four kinds of entries, all in Django's default cache:

- **Lists.** A member's persisted list as stored (packed bytes, `recommendations.lists.StoredList`)
  under ``recs:list:v6:<user>``, beside the list epoch it was written under (read with the epoch in
  one round trip). One member's new list replaces their entry; a bulk write or a new model serving
  bumps the list epoch, so every cached list is stale after one key write and lists are cached again
  as they are next read.
- **Answers.** The JSON of a member's ``GET /api/v1/me/recommendations/``, served before Django REST
  framework runs (one cache round trip, no SQL). See "Who may read a cached answer" below.
- **Active version.** ``recs:active-version:v2``: the serving version's id and artifact path beside
  the list epoch, so a request loads its scorer without a query; an activation bumps the list epoch.
- **Refresh debounce.** ``recs:refresh-pending:v2`` marks that a batch refresh of the members whose
  lists are noted stale is queued, so a burst of ratings (by any number of members) enqueues one task.

Who may read a cached answer. `answer_cached` is the only reader. It serves an answer only when three
entries agree, all derived from the request alone:

  auth  recs:auth:v1:<digest(token)>           -> (user_id, generation)  "this token is valid"
  resp  recs:resp:v1:<digest(token)>:<params>   -> (user_id, generation, epoch, JSON bytes)
  epoch recs:resp-epoch:v1                      -> epoch

An auth entry is only ever created by `answer_slot`, which the view calls after DRF has authenticated
the token (knox: the digest matches, the token has not expired, its user is active), and it expires
after RESPONSE_CACHE_SECONDS or with the token, whichever comes first. Whatever ends access replaces
it with a tombstone that outlives every answer (`answers_revoke_tokens`: a token deleted, an account
deactivated; a new password deletes the member's tokens), so a request that DRF authenticated just
before the revocation committed cannot create a fresh entry either. Whatever changes a member's
answers deletes their entries (`answers_forget_users`: ratings, hides or list changed).
`recommendations.receivers` wires those events. Keys hold the token's digest as the database stores
it (knox's), never the token, so the cache holds no usable secret and a deleted token row is enough
to find its entries.

A dead cache never takes serving or writes down: every function here logs and carries on (readers
answer "not cached").
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.request import Request

from recommender_site.redis_client import redis_client

logger = logging.getLogger(__name__)
T = TypeVar("T")

LIST_EPOCH_KEY = "recs:list-epoch:v1"
ANSWER_EPOCH_KEY = "recs:resp-epoch:v1"
#: Query parameters a cached answer may have; anything else (e.g. ?format=) takes the normal path.
ANSWER_PARAMS = frozenset({"n", "genre", "decade"})
#: Stored for a member without a list, so that a miss does not query the database on every request.
_NO_LIST = ()
#: An auth entry for a token that must never be answered from the cache again.
_REVOKED = "revoked"
#: Where `answer_cached` leaves, on the request, the auth entry and answer epoch it read.
_PINNED = "_recs_answer_pinned"


def _epoch(key: str) -> str:
    """The current epoch under ``key``, created on first use (or after the cache lost it: everything
    cached under the old one is then unreachable, which is safe). Raises when the cache is unreachable."""
    epoch = cache.get(key)
    if epoch is None:
        cache.add(key, secrets.token_hex(8), None)  # add: concurrent creators agree on one epoch
        epoch = cache.get(key)
    return str(epoch)


def _epoch_bump(key: str, what: str) -> None:
    try:
        cache.set(key, secrets.token_hex(8), None)
    except Exception:
        logger.warning("Could not bump the %s cache epoch", what, exc_info=True)


# --- Lists -------------------------------------------------------------------------------------------


def _list_key(user_id: int) -> str:
    return f"recs:list:v6:{user_id}"  # v6: values are (list epoch, lists.StoredList with stars)


def _list_seconds() -> int:
    return int(settings.RECOMMENDATIONS["CACHE_SECONDS"])


def _read_under_list_epoch(key: str) -> tuple[str, Any]:
    """The current list epoch and the entry under ``key`` when it was written under that epoch (else
    None): one round trip, the epoch read beside the entry. Raises when the cache is unreachable."""
    found = cache.get_many([LIST_EPOCH_KEY, key])
    epoch, entry = found.get(LIST_EPOCH_KEY), found.get(key)
    if epoch is None:
        return _epoch(LIST_EPOCH_KEY), None
    if entry is None or entry[0] != epoch:
        return str(epoch), None
    return str(epoch), entry[1]


def list_read_through(user_id: int, load: Callable[[], T | None]) -> T | None:
    """The member's cached list, else ``load()`` (the database), cached for the next read."""
    key = _list_key(user_id)
    try:
        epoch: str | None
        epoch, cached = _read_under_list_epoch(key)
    except Exception:  # the database still answers
        epoch, cached = None, None
    if cached is not None:
        return None if cached == _NO_LIST else cached
    value = load()
    if epoch is not None:
        with contextlib.suppress(Exception):
            cache.set(key, (epoch, _NO_LIST if value is None else value), _list_seconds())
    return value


def lists_replace(lists: Mapping[int, Any]) -> None:
    """New lists of a few members (of the active version), by user id, replace their cached ones."""
    try:
        epoch = _epoch(LIST_EPOCH_KEY)
        cache.set_many({_list_key(u): (epoch, value) for u, value in lists.items()}, _list_seconds())
    except Exception:
        logger.warning("Could not cache the new recommendation lists", exc_info=True)


#: The active version's reference lives at most this long in the cache (it is stored under the list
#: epoch, which an activation bumps; the lifetime bounds anything else that changes the active version).
_ACTIVE_VERSION_SECONDS = 60
_ACTIVE_VERSION_KEY = "recs:active-version:v2"  # v2: values are (list epoch, registry.VersionRef)


def active_version_read_through(load: Callable[[], T | None]) -> T | None:
    """The active model version's reference (`registry.active_version_ref`), else ``load()``.

    Stored under the list epoch: an activation bumps it after commit (`forget_all`), so the next read
    loads the new version. "No active version" is not cached: the first promotion is seen at once.
    """
    try:
        epoch: str | None
        epoch, cached = _read_under_list_epoch(_ACTIVE_VERSION_KEY)
    except Exception:
        epoch, cached = None, None
    if cached is not None:
        return cached
    value = load()
    if epoch is not None and value is not None:
        with contextlib.suppress(Exception):
            cache.set(_ACTIVE_VERSION_KEY, (epoch, value), _ACTIVE_VERSION_SECONDS)
    return value


# --- Answers (the API fast path) -----------------------------------------------------------------------


def _auth_key(digest: str) -> str:
    return f"recs:auth:v1:{digest}"


def _answer_key(digest: str, query_string: str) -> str:
    params = hashlib.sha1(query_string.encode(), usedforsecurity=False).hexdigest()[:20]
    return f"recs:resp:v1:{digest}:{params}"


def _answer_seconds() -> int:
    """How long a cached answer lives at most. It bounds staleness of what no event invalidates:
    other members' ratings changing a movie's count and mean, and popularity fallbacks."""
    return int(settings.RECOMMENDATIONS.get("RESPONSE_CACHE_SECONDS", 300))


def _bearer_token(request: HttpRequest) -> str | None:
    """The key of an ``Authorization: Token <key>`` header, parsed as knox's authentication does."""
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    parts = (header.encode("iso-8859-1") if isinstance(header, str) else header).split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeError:
        return None


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return not accept or any(kind in accept for kind in ("application/json", "*/*", "application/*"))


def answer_cached(request: HttpRequest) -> bytes | None:
    """The cached JSON answer to ``request``, when it may be served without DRF (one round trip).

    Only a plain JSON GET with a token and known parameters qualifies, and only when the token's auth
    entry, the answer and the epoch agree. None on any miss, mismatch or cache error: the caller then
    takes the normal path (authentication, throttling, computing the answer).
    """
    if request.method != "GET" or not _accepts_json(request) or not set(request.GET) <= ANSWER_PARAMS:
        return None
    token_key = _bearer_token(request)
    if not token_key:
        return None
    digest = hash_token(token_key)
    auth_key = _auth_key(digest)
    answer_key = _answer_key(digest, request.META.get("QUERY_STRING", ""))
    try:
        found = cache.get_many([auth_key, answer_key, ANSWER_EPOCH_KEY])
    except Exception:
        return None
    auth, answer, epoch = found.get(auth_key), found.get(answer_key), found.get(ANSWER_EPOCH_KEY)
    # On a miss the view computes the answer: `answer_slot` pins the generation and epoch read here
    # (read before anything is computed, so any invalidation from now on still wins) instead of
    # reading them again.
    setattr(request, _PINNED, (digest, auth, epoch))
    if auth is None or auth == _REVOKED or answer is None or epoch is None:
        return None
    user_id, generation = auth
    answer_user, answer_generation, answer_epoch, body = answer
    if (answer_user, answer_generation, answer_epoch) != (user_id, generation, epoch):
        return None
    return body


@dataclass(frozen=True)
class AnswerSlot:
    """Where (and under which generation and epoch) a freshly computed answer will be cached."""

    key: str
    user_id: int
    generation: str
    epoch: str


def answer_slot(*, request: Request, user_id: int) -> AnswerSlot | None:
    """Pin the generation and epoch BEFORE the answer is computed, for a request DRF authenticated
    with a token. None when the answer must not be cached (another kind of authentication, other
    parameters, no cache).

    An invalidation that lands while the answer is being computed deletes the auth entry (or bumps the
    epoch), so the answer is stored under a generation that no longer matches and is never served:
    no stale answer can outlive the write that made it stale.
    """
    token, token_key = request.auth, _bearer_token(request)
    if not isinstance(token, AuthToken) or not token_key or not set(request.query_params) <= ANSWER_PARAMS:
        return None
    if hash_token(token_key) != token.digest:  # the header is the token DRF authenticated; be exact
        return None
    # The "valid token" entry must not outlive the token itself.
    seconds = _answer_seconds()
    if token.expiry is not None:
        seconds = max(1, min(seconds, int((token.expiry - timezone.now()).total_seconds())))
    auth_key = _auth_key(token.digest)
    pinned = getattr(request._request, _PINNED, None)
    try:
        if pinned is not None and pinned[0] == token.digest:
            auth, epoch = pinned[1], pinned[2]
        else:
            found = cache.get_many([auth_key, ANSWER_EPOCH_KEY])
            auth, epoch = found.get(auth_key), found.get(ANSWER_EPOCH_KEY)
        if auth == _REVOKED:
            return None
        if auth is not None and auth[0] != user_id:  # cannot happen with live tokens; be exact anyway
            cache.delete(auth_key)
            return None
        if auth is None:
            auth = (user_id, secrets.token_hex(8))
            if not cache.add(auth_key, auth, seconds):
                auth = cache.get(auth_key)
        if epoch is None:
            epoch = _epoch(ANSWER_EPOCH_KEY)
    except Exception:
        logger.warning("Answer cache unreachable; answering uncached", exc_info=True)
        return None
    if auth is None or auth == _REVOKED or epoch is None or auth[0] != user_id:
        return None
    return AnswerSlot(
        key=_answer_key(token.digest, request.META.get("QUERY_STRING", "")),
        user_id=user_id,
        generation=auth[1],
        epoch=epoch,
    )


def answer_store(*, slot: AnswerSlot, body: bytes) -> None:
    try:
        cache.set(slot.key, (slot.user_id, slot.generation, slot.epoch, body), _answer_seconds())
    except Exception:
        logger.warning("Could not cache a recommendations answer", exc_info=True)


def _token_digests(user_ids: Sequence[int]) -> list[str]:
    """The digests of these members' tokens: one statement, written by hand (building the ORM query cost
    as much CPU as the rest of a rating's after-commit work)."""
    ids = [int(u) for u in user_ids]
    if not ids:
        return []
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT digest FROM {AuthToken._meta.db_table} WHERE user_id IN ({placeholders})", ids
        )
        return [str(row[0]) for row in cursor.fetchall()]


def answers_forget_users(*, user_ids: Sequence[int]) -> None:
    """Every cached answer of these members is stale (one SQL query for their tokens, one cache write)."""
    keys = [_auth_key(d) for d in _token_digests(user_ids)]
    if not keys:
        return
    try:
        cache.delete_many(keys)
    except Exception:
        logger.warning("Could not drop cached answers of users %s", list(user_ids)[:5], exc_info=True)


def answers_revoke_tokens(*, digests: Sequence[str]) -> None:
    """These tokens' cached answers stop being served at once, and none is cached for them again: a
    tombstone that outlives every answer takes each auth entry's place."""
    if not digests:
        return
    try:
        cache.set_many({_auth_key(d): _REVOKED for d in digests}, _answer_seconds())
    except Exception:
        logger.warning("Could not revoke cached answers of %s tokens", len(digests), exc_info=True)


def answers_revoke_users(*, user_ids: Sequence[int]) -> None:
    """Every token of these members is revoked in the answer cache (an account deactivated)."""
    answers_revoke_tokens(
        digests=list(AuthToken.objects.filter(user_id__in=list(user_ids)).values_list("digest", flat=True))
    )


# --- Invalidation of whole members and of everything ------------------------------------------------


def member_forget(*, user_id: int) -> None:
    """The member's cached list and answers are stale (their ratings, hides or list changed)."""
    try:
        cache.delete(_list_key(user_id))
    except Exception:
        logger.warning("Could not drop user %s's cached list", user_id, exc_info=True)
    answers_forget_users(user_ids=[user_id])


def forget_all() -> None:
    """Every cached list and answer is stale (a new version serves, or every list was rewritten): two
    key writes, whatever the number of members; each is cached again from the database when read."""
    _epoch_bump(LIST_EPOCH_KEY, "list")
    _epoch_bump(ANSWER_EPOCH_KEY, "answer")


# --- Refresh debounce -----------------------------------------------------------------------------------


#: Set while a batch refresh of the members noted stale is queued and has not started yet.
_REFRESH_PENDING_KEY = "recs:refresh-pending:v2"


def refresh_pending_mark(*, seconds: int) -> bool:
    """Mark a batch refresh as queued; True when none was (so the caller enqueues one). True when the
    cache is unreachable too: the refresh is idempotent."""
    try:
        return bool(cache.add(_REFRESH_PENDING_KEY, 1, timeout=seconds))
    except Exception:
        return True


def refresh_pending_clear() -> None:
    """The queued batch starts (or could not be queued): a later change must enqueue the next one."""
    try:
        cache.delete(_REFRESH_PENDING_KEY)
    except Exception:
        logger.warning("Cache unreachable; could not clear the refresh marker")


def member_changed(*, user_id: int, refresh_mark_seconds: int) -> bool:
    """After a member's ratings changed: their cached answers are stale (`answers_forget_users`) and a
    batch refresh must be pending (`refresh_pending_mark`). On Redis both are one pipelined round trip
    (the rating's after-commit work is then one SQL query and one cache round trip). Returns True when
    no refresh was pending, so the caller enqueues one (True as well when the cache is unreachable)."""
    pipeline = _redis_pipeline()
    if pipeline is None:
        answers_forget_users(user_ids=[user_id])
        return refresh_pending_mark(seconds=refresh_mark_seconds)
    keys = [_auth_key(d) for d in _token_digests([user_id])]
    try:
        if keys:
            pipeline.delete(*[cache.make_key(k) for k in keys])
        marker = cache.client.encode(1)  # type: ignore[attr-defined]  # django-redis: as its add() stores it
        pipeline.set(cache.make_key(_REFRESH_PENDING_KEY), marker, nx=True, ex=refresh_mark_seconds)
        return bool(pipeline.execute()[-1])
    except Exception:
        logger.warning("Cache unreachable after user %s's change", user_id, exc_info=True)
        return True


def _redis_pipeline() -> Any:
    """A redis-py pipeline (no MULTI) on the default cache's server when it is django-redis, else None
    (`recommender_site.redis_client`): several commands in one round trip."""
    try:
        client = redis_client()
        return None if client is None else client.pipeline(transaction=False)
    except Exception:
        return None
