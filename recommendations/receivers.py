"""What the recommendations app does when something it depends on changes: a member's ratings (their
list is stale), a token deleted or an account saved (their cached answers must stop being served;
see "Who may read a cached answer" in `recommendations.caches`)."""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from knox.models import AuthToken

from ratings.signals import ratings_changed

from . import caches
from .tasks import refresh_stale

logger = logging.getLogger(__name__)


@receiver(ratings_changed, dispatch_uid="recommendations.refresh_on_rating_change")
def on_ratings_changed(sender: object, *, user_id: int, **kwargs: object) -> None:
    """Drop the member's cached answers (so read-time filters see the change) and make sure a debounced
    batch refresh is queued. The cached list itself stays: it is the stored list, which only a refresh
    changes (and replaces in the cache), and every answer filters it against the member's ratings and
    hides read from the database. The durable note that the list is stale was written with the change
    (`ratings.outbox`); the batch refreshes every noted member at once, the beat sweep is the fallback.

    Ratings by any number of members enqueue a single task per batch: only the first change after a
    batch has started marks one as pending; the task clears the mark when it starts, so a change made
    during a batch gets the next one.
    """
    debounce = settings.RECOMMENDATIONS["REFRESH_DEBOUNCE_SECONDS"]
    if not caches.member_changed(user_id=user_id, refresh_mark_seconds=max(60, int(debounce * 30))):
        return
    try:
        refresh_stale.apply_async(countdown=debounce, retry=False)
    except Exception:
        # The change and its note are saved; the sweep refreshes the list. Don't keep the mark, or no
        # later change would enqueue either.
        logger.warning("Could not enqueue a refresh (user %s's change)", user_id, exc_info=True)
        caches.refresh_pending_clear()


@receiver(post_delete, sender=AuthToken, dispatch_uid="recommendations.forget_revoked_token")
def on_token_deleted(sender: object, *, instance: AuthToken, **kwargs: object) -> None:
    """A revoked (or expired) token stops working at once, cached answers included (keyed by its digest)."""
    caches.answers_revoke_tokens(digests=[instance.digest])


@receiver(post_save, sender=get_user_model(), dispatch_uid="recommendations.forget_changed_user")
def on_user_saved(sender: object, *, instance: Any, created: bool, **kwargs: object) -> None:
    """A deactivated account gets no cached answer again (its tokens are tombstoned); an otherwise
    changed one takes the normal path once, where DRF authenticates it again."""
    if created:
        return
    if not instance.is_active:
        user_id = instance.pk
        caches.answers_revoke_users(user_ids=[user_id])
        # Again once the change commits: a token made meanwhile was not among those revoked above.
        transaction.on_commit(lambda: caches.answers_revoke_users(user_ids=[user_id]), robust=True)
    else:
        caches.answers_forget_users(user_ids=[instance.pk])
