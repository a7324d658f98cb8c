"""The account rules every way in shares: the site's sign-up form, the API's sign-up, the admin.

A username is compared and stored in Unicode NFKC form (so a fullwidth ADMIN is the plain ``ADMIN``), is
unique regardless of case (``ADMIN`` is taken when ``admin`` exists; a database constraint backs it),
holds letters, digits and ``@.+-_`` only (never the ``:`` of dataset users) and fits the column's 150
characters *after* normalisation (one character can expand to many). Email addresses are unique
regardless of case too; the sign-up service decides what a taken one means without revealing it.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from .models import User

USERNAME_MAX_LENGTH = 150


def username_normalize(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def username_clean(value: str, *, exclude_pk: int | None = None) -> str:
    """The normalised username, or ValidationError saying which rule it breaks."""
    username = username_normalize(value)
    if not username:
        raise ValidationError("Choose a username.", code="required")
    if len(username) > USERNAME_MAX_LENGTH:
        raise ValidationError(
            f"Usernames have at most {USERNAME_MAX_LENGTH} characters "
            f"(this one has {len(username)} once normalised).",
            code="max_length",
        )
    if ":" in username:  # dataset users are named "source:id"; say it plainly
        raise ValidationError("Usernames cannot contain ':'.", code="invalid")
    UnicodeUsernameValidator()(username)
    taken = User.objects.filter(username__iexact=username)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError("That username is taken.", code="username_taken")
    return username


def email_normalize(value: str) -> str:
    return value.strip()


def email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    if not email:
        return False
    taken = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()
