"""API tokens the database vouched for authenticate from the cache (no query), and whatever ends or
changes access takes effect at once all the same (`accounts.api.authentication`)."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import tokens_revoke, user_password_change

from .support import PASSWORD, error_of, token_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/ratings/"


def token_queries(client) -> tuple[int, list[str]]:
    """The status of one authenticated request and the queries it made on the token table."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ME)
    return response.status_code, [q["sql"] for q in queries if "knox_authtoken" in q["sql"]]


def test_a_token_is_read_from_the_database_once_then_from_the_cache(member):
    client = token_client(member)
    status, queries = token_queries(client)
    assert (status, len(queries)) == (200, 1)
    assert token_queries(client) == (200, [])
    assert token_queries(client) == (200, [])


def _expire_in_the_admin(user: User) -> None:
    """What the admin's change form does: the token's expiry set in the past, then save()."""
    token = AuthToken.objects.get(user=user)
    token.expiry = timezone.now() - dt.timedelta(seconds=1)
    token.save()


@pytest.mark.parametrize(
    "end_access",
    [
        pytest.param(lambda user: tokens_revoke(user_id=user.pk), id="token revoked"),
        pytest.param(lambda user: AuthToken.objects.filter(user=user).delete(), id="tokens deleted"),
        pytest.param(
            lambda user: user_password_change(user=user, password="Another-horse-93!"), id="new password"
        ),
        pytest.param(lambda user: User.objects.get(pk=user.pk).delete(), id="account deleted"),
        pytest.param(lambda user: _expire_in_the_admin(user), id="expiry changed"),
    ],
)
def test_ending_access_takes_effect_at_once_although_the_token_was_cached(member, end_access):
    client = token_client(member)
    assert token_queries(client)[0] == 200
    assert token_queries(client) == (200, [])  # cached
    end_access(member)
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_a_deactivated_account_is_refused_at_once_and_a_changed_one_is_read_again(member, staff):
    client = token_client(member)
    assert token_queries(client)[0] == 200
    assert token_queries(client) == (200, [])  # cached
    member.is_active = False
    member.save()
    assert client.get(ME).status_code == 401

    staff_client = token_client(staff)
    assert staff_client.get("/api/v1/training-runs/").status_code == 200
    assert token_queries(staff_client) == (200, [])  # cached, as staff
    staff.is_staff = False
    staff.save()
    assert staff_client.get("/api/v1/training-runs/").status_code == 403  # no longer staff, at once
    assert len(token_queries(staff_client)[1]) == 1  # from the database while the tombstone lives


def test_the_member_from_the_cache_loads_other_fields_on_use_and_saves_only_what_it_loaded(member):
    from accounts.api.authentication import token_cache_read

    client = token_client(member)
    assert client.get(ME).status_code == 200
    token = AuthToken.objects.get(user=member)
    cached = token_cache_read(token.digest)
    assert cached is not None
    assert (cached.user.pk, cached.user.username) == (member.pk, member.username)
    assert cached.user.email == member.email  # deferred: read from the database when used
    cached.user.first_name = "Al"
    cached.user.save()
    stored = User.objects.get(pk=member.pk)
    assert (stored.first_name, stored.password, stored.email) == ("Al", member.password, member.email)


def test_a_token_from_logging_in_is_vouched_for_once_committed(
    anon, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = anon.post("/api/v1/auth/token/", {"username": member.username, "password": PASSWORD})
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert token_queries(client) == (200, [])  # the first request after logging in reads the cache


def test_a_new_token_that_would_not_authenticate_is_not_remembered(
    member, django_capture_on_commit_callbacks
):
    from accounts.api.authentication import token_cache_read

    with django_capture_on_commit_callbacks(execute=True):
        expired, _ = AuthToken.objects.create(user=member, expiry=dt.timedelta(seconds=-1))
    assert token_cache_read(expired.digest) is None

    member.is_active = False
    member.save()
    with django_capture_on_commit_callbacks(execute=True):
        inactive, _ = AuthToken.objects.create(user=member)
    assert token_cache_read(inactive.digest) is None


def test_a_log_in_racing_a_deactivation_is_not_remembered_once_the_deactivation_commits(
    member, django_capture_on_commit_callbacks
):
    """A log-in commits its token while the deactivation's transaction is still open: the token was not
    among those the deactivation tombstoned, and its vouch read the member as still active."""
    from accounts.api.authentication import token_cache_add, token_cache_read

    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = False
        member.save()  # the deactivation's transaction, not yet committed
        token, key = AuthToken.objects.create(user=member)
        token.user.is_active = True  # what the racing vouch read before the deactivation committed
        token_cache_add(token)
        assert token_cache_read(token.digest) is not None
    assert token_cache_read(token.digest) is None  # tombstoned once the deactivation committed
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(ME).status_code == 401


def test_a_token_rolled_back_or_revoked_before_its_commit_is_not_remembered(
    member, django_capture_on_commit_callbacks
):
    from accounts.api.authentication import token_cache_read

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                rolled_back, _ = AuthToken.objects.create(user=member)
                raise RuntimeError("the request failed after creating its token")
        except RuntimeError:
            pass
    assert callbacks == []
    assert token_cache_read(rolled_back.digest) is None

    with django_capture_on_commit_callbacks(execute=True):
        token, key = AuthToken.objects.create(user=member)
        tokens_revoke(user_id=member.pk)  # deleted in the same transaction: a tombstone, then the vouch
    assert token_cache_read(token.digest) is None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(ME).status_code == 401
