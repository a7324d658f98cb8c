"""Writes of the accounts app: the one way a person's account is created (site form and API alike)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import User


def user_register(*, username: str, email: str, password: str) -> User:
    """Create a person's account (a usable password, never a dataset user).

    Callers have already applied their validation (username rules, AUTH_PASSWORD_VALIDATORS); the
    database's uniqueness is the last word: a name taken a moment ago raises ValidationError, not 500.
    """
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        raise ValidationError({"username": ["That username is taken."]}, code="username_taken") from None
