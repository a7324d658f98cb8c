"""`Authorization: Token <key>` with django-rest-knox: keys are stored as SHA-512 digests and expire.

A token that the database has just vouched for is remembered in the cache for a short while
(``API_TOKEN_CACHE_SECONDS``, never beyond the token's expiry), so that most API requests authenticate
with one cache read instead of a query. A new token is vouched for once its creation commits (signing
up, logging in), so that a member's first requests after logging in read the cache too. This module
owns those entries:

  key    auth:token:v1:<digest of the token>   (the digest as the database stores it, never the key)
  value  (user id, username, is_staff, is_superuser, token key prefix, created, expiry), or a tombstone

An entry is only ever added (never overwritten), after the database vouched for the token as knox
does: a request knox authenticated from it, or the same read once a new token's creation committed.
Whatever ends or changes access replaces the member's entries with tombstones that outlive any entry
(a token deleted: revoked, expired, a new password, the account deleted; a token saved: its expiry
changed; the account saved: deactivated, made staff or not, renamed), so a request that read the
database just before the change committed cannot cache what it read either; those tokens
authenticate from the database until the tombstones expire. The member a cached entry yields has only
those fields loaded: any other field is read from the database when used (Django's deferred fields),
and saving it writes only what was loaded.
A dead cache means authenticating from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import exceptions

logger = logging.getLogger(__name__)
User = get_user_model()

_REVOKED = "revoked"


def _key(digest: str) -> str:
    return f"auth:token:v1:{digest}"


def _seconds() -> int:
    return int(settings.API_TOKEN_CACHE_SECONDS)


def token_cache_read(digest: str) -> AuthToken | None:
    """The token with this digest and its member, as the database vouched for it lately; None when
    not cached, tombstoned, expired or the cache is unreachable."""
    if _seconds() <= 0:
        return None
    try:
        found = cache.get(_key(digest))
    except Exception:
        return None
    if found is None or found == _REVOKED:
        return None
    user_id, username, is_staff, is_superuser, token_key, created, expiry = found
    if expiry is not None and expiry <= timezone.now():
        return None
    user = _loaded(
        User, id=user_id, username=username, is_active=True, is_staff=is_staff, is_superuser=is_superuser
    )
    token = _loaded(
        AuthToken, digest=digest, token_key=token_key, user_id=user_id, created=created, expiry=expiry
    )
    token.user = user
    return token


def _loaded(model: Any, **values: Any) -> Any:
    """An instance of ``model`` as if read from the database with only these fields (the rest deferred)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


def token_cache_add(token: AuthToken) -> None:
    """Remember a token the database has just vouched for (unless it is tombstoned; never beyond its
    expiry, so an expired token is not remembered)."""
    seconds = _seconds()
    if token.expiry is not None:
        seconds = min(seconds, int((token.expiry - timezone.now()).total_seconds()))
    if seconds <= 0:
        return
    user = token.user
    entry = (user.pk, user.get_username(), user.is_staff, user.is_superuser, token.token_key, token.created,
             token.expiry)  # fmt: skip
    try:
        cache.add(_key(token.digest), entry, seconds)
    except Exception:
        logger.warning("Token cache unreachable", exc_info=True)


def token_cache_vouch(digest: str) -> None:
    """Remember a token the database holds, when it would authenticate: what a first request would do
    (the token's row and its member, as knox reads them; an inactive member's is not remembered, nor,
    by `token_cache_add`, an expired one)."""
    if _seconds() <= 0:
        return
    token = AuthToken.objects.select_related("user").filter(digest=digest).first()
    if token is not None and token.user.is_active:
        token_cache_add(token)


def token_cache_revoke(*, digests: Sequence[str]) -> None:
    """These tokens authenticate from the database again, at once, for longer than any entry lives."""
    if not digests or _seconds() <= 0:
        return
    try:
        cache.set_many({_key(d): _REVOKED for d in digests}, _seconds())
    except Exception:
        logger.warning("Could not tombstone %s cached tokens", len(digests), exc_info=True)


@receiver(post_delete, sender=AuthToken, dispatch_uid="accounts.token_cache_on_delete")
def _on_token_deleted(sender: object, *, instance: AuthToken, **kwargs: object) -> None:
    token_cache_revoke(digests=[instance.digest])


@receiver(post_save, sender=AuthToken, dispatch_uid="accounts.token_cache_on_token_saved")
def _on_token_saved(sender: object, *, instance: AuthToken, created: bool, **kwargs: object) -> None:
    if created:  # read back once committed: a rolled-back token is never remembered
        digest = instance.digest
        transaction.on_commit(lambda: token_cache_vouch(digest), robust=True)
    else:  # e.g. its expiry changed in the admin
        token_cache_revoke(digests=[instance.digest])


@receiver(post_save, sender=User, dispatch_uid="accounts.token_cache_on_user_saved")
def _on_user_saved(
    sender: object, *, instance: Any, created: bool, update_fields: Any = None, **kwargs: object
) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a log-in's timestamp changes nothing a cached entry holds
    user_id = instance.pk
    _revoke_member_tokens(user_id)
    # Again once the change commits: a token made meanwhile (a log-in racing a deactivation) was not
    # among those found above, and its vouch may have read the member as they were before the change.
    transaction.on_commit(lambda: _revoke_member_tokens(user_id), robust=True)


def _revoke_member_tokens(user_id: int) -> None:
    token_cache_revoke(
        digests=list(AuthToken.objects.filter(user_id=user_id).values_list("digest", flat=True))
    )


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> Any:
        # knox decodes the key as UTF-8 without a guard: a header with other bytes would be a 500.
        try:
            key = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        cached = token_cache_read(hash_token(key))
        if cached is not None:
            return cached.user, cached
        user, auth_token = super().authenticate_credentials(token)
        token_cache_add(auth_token)
        return user, auth_token

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Only the presented token: an expired one is deleted and refused. knox's own also walks every
        other token of the member, one more query on every authenticated request; the member's other
        expired tokens are dropped when they next get a token (`accounts.services.token_create`) and
        can never authenticate meanwhile."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme: the same `tokenAuth` as DRF's own token authentication had."""

    target_class = "accounts.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
