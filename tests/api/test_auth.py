"""Sign-up, token log-in and log-out; the token scope throttle; django-axes lockout on the token endpoint."""

from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import DatasetUserFactory, UserFactory

from .support import PASSWORD, error_of

pytestmark = pytest.mark.django_db

REGISTER, TOKEN = "/api/v1/auth/register/", "/api/v1/auth/token/"
STRONG = "Correct-horse-92!"


def rates(**overrides: str | None) -> dict:
    """REST_FRAMEWORK settings with some throttle rates changed."""
    from django.conf import settings

    current: dict[str, Any] = settings.REST_FRAMEWORK
    return {
        **current,
        "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **overrides},
    }


def test_register_creates_the_member_and_returns_a_working_token(anon):
    response = anon.post(REGISTER, {"username": "carol", "password": STRONG, "email": "c@example.com"})
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(username="carol")
    token = AuthToken.objects.get(user=user)
    # Shown once: the database holds only its digest and first characters, and it expires.
    assert token.digest == hash_token(body["token"])
    assert body["token"] not in token.digest
    assert body["token"].startswith(token.token_key)
    assert token.expiry is not None
    # The address is attached once confirmed by the link mailed to it.
    assert body == {
        "token": body["token"],
        "user": {"id": user.pk, "username": "carol", "email": "", "is_staff": False},
    }
    assert [m.to for m in mail.outbox] == [["c@example.com"]]
    assert user.check_password(STRONG)
    assert user.is_dataset_user is False
    me = APIClient(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert me.get("/api/v1/me/ratings/").status_code == 200


def test_register_without_email(anon):
    response = anon.post(REGISTER, {"username": "dave", "password": STRONG})
    assert response.status_code == 201
    assert User.objects.get(username="dave").email == ""


@pytest.mark.parametrize(
    ("password", "code_word"),
    [
        ("123", "too short"),
        ("password123", "too common"),
        ("83749201746", "entirely numeric"),
        ("eveline-eve", "too similar"),  # similar to the username: validators see the user
    ],
)
def test_register_applies_the_sites_password_validators(anon, password, code_word):
    response = anon.post(REGISTER, {"username": "eveline", "password": password})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert any(code_word in message for message in error["fields"]["password"]), error
    assert not User.objects.filter(username="eveline").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "movielens:1", "password": STRONG}, "username"),  # dataset users' names
        ({"username": "with space", "password": STRONG}, "username"),
        ({"username": "", "password": STRONG}, "username"),
        ({"username": "x" * 151, "password": STRONG}, "username"),
        ({"password": STRONG}, "username"),
        ({"username": "frank"}, "password"),
        ({"username": "frank", "password": STRONG, "email": "not-an-address"}, "email"),
        ({"username": "nul\x00byte", "password": STRONG}, "username"),
        ({"username": ["frank"], "password": STRONG}, "username"),
    ],
)
def test_register_rejects_bad_input_field_by_field(anon, body, field):
    response = anon.post(REGISTER, body)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_register_refuses_a_taken_name_in_any_case(anon):
    UserFactory.create(username="Grace")
    response = anon.post(REGISTER, {"username": "grace", "password": STRONG})
    assert response.status_code == 400
    assert error_of(response)["fields"]["username"] == ["That username is taken."]


def test_register_rejects_non_json_bodies(anon):
    response = anon.post(REGISTER, "username=x&password=y", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    response = anon.post(REGISTER, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_each_token_login_returns_a_token_of_its_own(anon, member):
    response = anon.post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert AuthToken.objects.get(user=member).digest == hash_token(response.json()["token"])
    again = anon.post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert again.json()["token"] != response.json()["token"]
    assert AuthToken.objects.filter(user=member).count() == 2
    member.refresh_from_db()
    assert member.last_login is not None


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "ALICE", "password": PASSWORD + " "},
    ],
)
def test_token_login_refuses_wrong_credentials(anon, member, body):
    response = anon.post(TOKEN, body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_credentials"
    assert not AuthToken.objects.exists()


def test_inactive_members_get_no_token(anon):
    UserFactory.create(username="gone", is_active=False)
    assert anon.post(TOKEN, {"username": "gone", "password": PASSWORD}).status_code == 400


def test_dataset_users_never_get_a_token(anon):
    DatasetUserFactory.create(dataset_user_id="196")
    assert anon.post(TOKEN, {"username": "movielens:196", "password": ""}).status_code == 400
    # Even one that somehow got a usable password.
    rater = DatasetUserFactory.create(dataset_user_id="197")
    rater.set_password(STRONG)
    rater.save()
    response = anon.post(TOKEN, {"username": "movielens:197", "password": STRONG})
    assert response.status_code == 400
    assert not AuthToken.objects.filter(user=rater).exists()


def test_delete_revokes_the_token(member_client, member):
    other_device = AuthToken.objects.create(user=member)[0]
    assert member_client.delete(TOKEN).status_code == 204
    assert list(AuthToken.objects.filter(user=member)) == [other_device]  # only the token used
    response = member_client.get("/api/v1/me/ratings/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_delete_needs_authentication(anon):
    response = anon.delete(TOKEN)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "not_authenticated"


def test_session_login_can_revoke_the_token_with_csrf(member):
    AuthToken.objects.create(user=member)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    refused = client.delete(TOKEN)
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    secret = "s" * 32  # the site's pages set this cookie; its value is echoed in the header
    client.cookies["csrftoken"] = secret
    assert client.delete(TOKEN, HTTP_X_CSRFTOKEN=secret).status_code == 204
    assert not AuthToken.objects.filter(user=member).exists()


def test_token_creation_has_a_stricter_throttle_scope(anon, member):
    assert api_settings.DEFAULT_THROTTLE_RATES["token"]  # configured from settings
    with override_settings(REST_FRAMEWORK=rates(token="2/min")):
        assert anon.post(TOKEN, {"username": "alice", "password": PASSWORD}).status_code == 200
        assert anon.post(REGISTER, {"username": "henry", "password": STRONG}).status_code == 201
        throttled = anon.post(TOKEN, {"username": "alice", "password": PASSWORD})
        assert throttled.status_code == 429
        assert error_of(throttled)["code"] == "throttled"
        assert int(throttled["Retry-After"]) > 0
        # Other endpoints are not in that scope.
        assert anon.get("/api/v1/movies/").status_code == 200


def test_anonymous_and_user_rates_come_from_settings(anon, member_client):
    with override_settings(REST_FRAMEWORK=rates(anon="2/min", user="3/min")):
        assert [anon.get("/api/v1/movies/").status_code for _ in range(3)] == [200, 200, 429]
        codes = [member_client.get("/api/v1/me/ratings/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_token_endpoint_locks_out_after_repeated_failures(member):
    client = APIClient(REMOTE_ADDR="10.1.2.3")
    for _ in range(3):
        assert client.post(TOKEN, {"username": "alice", "password": "wrong"}).status_code in (400, 429)
    locked = client.post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    error = error_of(locked)
    assert error["code"] == "locked_out"
    assert not AuthToken.objects.filter(user=member).exists()


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_a_successful_token_login_resets_the_failure_count(member):
    client = APIClient(REMOTE_ADDR="10.1.2.4")
    for _ in range(2):
        assert client.post(TOKEN, {"username": "alice", "password": "wrong"}).status_code == 400
    assert client.post(TOKEN, {"username": "alice", "password": PASSWORD}).status_code == 200
    for _ in range(2):
        assert client.post(TOKEN, {"username": "alice", "password": "wrong"}).status_code == 400
    assert client.post(TOKEN, {"username": "alice", "password": PASSWORD}).status_code == 200
