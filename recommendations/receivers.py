"""Listens to the ratings app: a user's ratings changed, so their list is stale."""

import contextlib
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from knox.models import AuthToken

from ratings.signals import ratings_changed

from .services import (
    recommendation_cache_forget,
    recommendation_response_forget_token,
    recommendation_responses_forget,
)

logger = logging.getLogger(__name__)


def refresh_pending_key(user_id: int) -> str:
    return f"recs:refresh-pending:{user_id}"


@receiver(ratings_changed, dispatch_uid="recommendations.refresh_on_rating_change")
def on_ratings_changed(sender: object, *, user_id: int, **kwargs: object) -> None:
    """Drop the cached list (so read-time filters see the change) and schedule one debounced refresh.

    A burst of ratings enqueues a single task: only the first rating within the debounce window adds
    the pending marker; the task clears it when it starts, so a rating made during a refresh gets a
    refresh of its own.
    """
    from .tasks import refresh_user

    recommendation_cache_forget(user_id=user_id)
    debounce = settings.RECOMMENDATIONS["REFRESH_DEBOUNCE_SECONDS"]
    try:
        first = cache.add(refresh_pending_key(user_id), 1, timeout=max(60, int(debounce * 30)))
    except Exception:
        first = True  # no cache: enqueue anyway, the task is idempotent
    if not first:
        return
    try:
        refresh_user.apply_async(kwargs={"user_id": user_id}, countdown=debounce, retry=False)
    except Exception:
        # The rating is saved; the list catches up at the next refresh. Don't keep the marker, or no
        # later rating would enqueue either.
        logger.warning("Could not enqueue a refresh for user %s", user_id, exc_info=True)
        with contextlib.suppress(Exception):
            cache.delete(refresh_pending_key(user_id))


@receiver(post_delete, sender=AuthToken, dispatch_uid="recommendations.forget_revoked_token")
def on_token_deleted(sender: object, *, instance: AuthToken, **kwargs: object) -> None:
    """A revoked (or expired) token stops working at once, cached answers included (keyed by its digest)."""
    recommendation_response_forget_token(digest=instance.digest)


@receiver(post_save, sender=get_user_model(), dispatch_uid="recommendations.forget_changed_user")
def on_user_saved(sender: object, *, instance: object, created: bool, **kwargs: object) -> None:
    """A deactivated (or otherwise changed) account gets no cached answer: the next request
    authenticates through DRF again, which refuses inactive users."""
    if not created:
        recommendation_responses_forget(user_ids=[instance.pk])  # type: ignore[attr-defined]
