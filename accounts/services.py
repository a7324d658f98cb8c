"""Writes of the accounts app: creating an account (site form and API alike), attaching its email
address, and the API tokens of a member."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from .models import User
from .rules import email_normalize, email_taken, username_clean

EMAIL_CONFIRM_SALT = "accounts.email-confirm"


def user_register(*, username: str, email: str, password: str, site_url: str) -> User:
    """Create a person's account (a usable password, never a dataset user).

    The username rule (accounts.rules) is applied here too, so no way in can skip it; the database's
    case-insensitive uniqueness is the last word: a name taken a moment ago raises ValidationError.
    The email address is not attached yet: a link to attach it is mailed to it (or, when it already
    belongs to an account, a note saying so), so sign-up reveals nothing about who has an account.
    """
    username = username_clean(username)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email="", password=password)
    except IntegrityError:
        raise ValidationError({"username": ["That username is taken."]}, code="username_taken") from None
    if email:
        email_confirmation_send(user=user, email=email, site_url=site_url)
    return user


def email_confirmation_send(*, user: User, email: str, site_url: str) -> None:
    """Mail ``email`` a signed link that attaches it to ``user`` (valid PASSWORD_RESET_TIMEOUT seconds),
    or, if another account already has it, a note to its owner instead. The caller learns neither."""
    email = email_normalize(email)
    if email_taken(email, exclude_pk=user.pk):
        context = {"site_url": site_url.rstrip("/"), "login_url": reverse("accounts:login"),
                   "reset_url": reverse("accounts:password_reset")}  # fmt: skip
        body = render_to_string("accounts/email_taken_notice.txt", context)
        subject = "Someone tried to sign up with your email address"
    else:
        token = signing.dumps({"user": user.pk, "email": email}, salt=EMAIL_CONFIRM_SALT)
        link = site_url.rstrip("/") + reverse("accounts:email_confirm", kwargs={"token": token})
        body = render_to_string("accounts/email_confirm.txt", {"user": user, "link": link})
        subject = "Confirm your email address"
    send_mail(subject, body, None, [email])


def email_confirm(*, token: str) -> User:
    """Attach the address in a confirmation link to its account; ValidationError says why not."""
    try:
        data = signing.loads(token, salt=EMAIL_CONFIRM_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.SignatureExpired:
        raise ValidationError(
            "This link has expired. Sign in and ask for a new one.", code="expired"
        ) from None
    except signing.BadSignature:
        raise ValidationError("This link is not valid.", code="invalid") from None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None:
        raise ValidationError("This link is not valid.", code="invalid")
    email = str(data.get("email", ""))
    if user.email.lower() == email.lower():
        return user
    if email_taken(email, exclude_pk=user.pk):
        raise ValidationError("That email address belongs to another account.", code="email_taken")
    user.email = email
    try:
        with transaction.atomic():
            user.save(update_fields=["email"])
    except IntegrityError:
        raise ValidationError("That email address belongs to another account.", code="email_taken") from None
    return user


def user_password_change(*, user: User, password: str) -> None:
    """Set a new (already validated) password; every API token of the account is revoked on save."""
    user.set_password(password)
    user.save(update_fields=["password"])


# --- API tokens (django-rest-knox: stored as digests, each with its own expiry) ---------------------------


def token_create(*, user: User) -> str:
    """A new token for ``user`` (its key is shown once, here; only its digest is stored). Expired tokens
    are dropped, and beyond API_TOKENS_PER_USER live ones the oldest are revoked."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    keep = max(int(settings.API_TOKENS_PER_USER) - 1, 0)
    stale = list(
        AuthToken.objects.filter(user=user).order_by("-created").values_list("digest", flat=True)[keep:]
    )
    if stale:
        for token in AuthToken.objects.filter(digest__in=stale):
            token.delete()  # one by one, so each revocation sends post_delete (cached answers go too)
    _instance, key = AuthToken.objects.create(user=user)
    return str(key)


def tokens_revoke(*, user_id: int, token_key: str | None = None, digest: str | None = None) -> int:
    """Revoke one of the member's tokens (by the public prefix listed to them, or by digest), or all of
    them when neither is given. Returns how many were revoked."""
    tokens = AuthToken.objects.filter(user_id=user_id)
    if token_key is not None:
        tokens = tokens.filter(token_key=token_key)
    if digest is not None:
        tokens = tokens.filter(digest=digest)
    revoked = 0
    for token in tokens:
        token.delete()
        revoked += 1
    return revoked


@receiver(pre_save, sender=User, dispatch_uid="accounts.revoke_tokens_on_password_change")
def _revoke_tokens_on_password_change(sender: object, *, instance: User, **kwargs: object) -> None:
    """Whatever changed the password (the site's change or reset form, the admin, a shell), every API
    token of the account stops working: a stolen token does not survive the owner's new password."""
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):  # type: ignore[operator]
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        tokens_revoke(user_id=instance.pk)
