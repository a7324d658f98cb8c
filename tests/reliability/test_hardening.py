"""Issue 18, the hostile audit: each request that failed (a 500, a bypass, a leak) now gets a clear answer.

In-process (Django's test client), on whatever database the settings say (SQLite without DATABASE_URL,
PostgreSQL under `make test`). The gunicorn + production-settings run of the same requests is the
acceptance check; the header and throttle rules are exercised here at the level they live.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from ratings.models import Rating
from recommendations.models import ModelVersion, TrainingRun
from recommender_site.client_ip import client_ip
from tests.api.support import PASSWORD, error_of, token_client
from tests.factories import MovieFactory, RatingFactory, UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
REGISTER, TOKEN, TOKENS = "/api/v1/auth/register/", "/api/v1/auth/token/", "/api/v1/auth/tokens/"
STRONG = "Correct-horse-92!x"
MANY_PARAMS = "&".join(f"k{n}=1" for n in range(1100))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_client(db) -> Client:
    staff = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


# --- 1. Server errors from single requests ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/movies/", "/api/v1/me/recommendations/"])
def test_more_than_a_thousand_query_parameters_get_a_json_400(path):
    client = token_client(UserFactory.create())
    response = client.get(f"{path}?{MANY_PARAMS}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "too_many_parameters"
    assert error["message"] == "Too many query parameters: at most 1000 are accepted."


def test_more_than_a_thousand_query_parameters_on_a_page_get_a_400_page():
    for path in ("/movies/", "/healthz", "/admin/catalog/movie/"):
        response = Client().get(f"{path}?" + "&".join(["a"] * 1100))
        assert response.status_code == 400
        assert b"Too many query parameters: at most 1000 are accepted." in response.content


@pytest.mark.parametrize(
    ("method", "path", "authenticated"),
    [("put", "/api/v1/me/ratings/{movie}/", True), ("post", REGISTER, False), ("post", TOKEN, False)],
)
def test_a_body_over_the_limit_gets_413_and_changes_nothing(method, path, authenticated):
    member = UserFactory.create()
    movie = MovieFactory.create()
    client = token_client(member) if authenticated else APIClient()
    body = json.dumps({"value": 4.0, "username": "big", "password": STRONG, "pad": "x" * 3_000_000})
    users_before = User.objects.count()
    response = getattr(client, method)(path.format(movie=movie.pk), body, content_type="application/json")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert error["message"] == "The request body is too large: at most 2621440 bytes are accepted."
    assert User.objects.count() == users_before
    assert not Rating.objects.exists()


def test_a_username_that_normalises_past_150_characters_is_refused():
    response = APIClient().post(REGISTER, {"username": "\ufdfa" * 9, "password": STRONG}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["fields"]["username"] == [
        "Usernames have at most 150 characters (this one has 162 once normalised)."
    ]
    assert not User.objects.exists()


def test_an_admin_list_filter_the_database_refuses_gets_a_400(staff_client):
    response = staff_client.get("/admin/catalog/movie/?updated_at__year=99999999")
    assert response.status_code == 400
    assert b"A list filter has a value this list cannot be filtered by (updated_at__year)" in response.content


def test_a_nul_byte_in_an_admin_list_filter_is_never_a_500(staff_client):
    response = staff_client.get("/admin/accounts/user/?dataset_source=a%00b")
    # PostgreSQL refuses NUL in text (400 naming the filter); SQLite simply finds nobody.
    assert response.status_code == (400 if connection.vendor == "postgresql" else 200)


# --- 2. Forwarded headers are believed only from configured proxies -----------------------------------------


def test_a_spoofed_x_forwarded_for_does_not_escape_the_sign_up_throttle(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "3/min"},
    }
    codes = [
        APIClient(HTTP_X_FORWARDED_FOR=f"203.0.113.{k}")
        .post(REGISTER, {"username": f"xff{k}", "password": STRONG}, format="json")
        .status_code
        for k in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # default: the header is the client's claim, ignored
        (1, "203.0.113.9", "203.0.113.9"),  # one proxy: what it saw
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client's own prefix is ignored
        (2, "198.51.100.1, 203.0.113.9", "198.51.100.1"),
        (1, None, "10.0.0.1"),
    ],
)
def test_the_client_address_follows_the_trusted_proxy_count(rf, settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    meta = {"REMOTE_ADDR": "10.0.0.1"} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    assert client_ip(rf.get("/", **meta)) == expected


def _production(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "recommender_site.settings.production",
            "DJANGO_SECRET_KEY": "pK7vQ2xL9mT4wR8nB3cY6hJ1fD5gS0aZ-eU_iO" * 2,
            "DJANGO_ALLOWED_HOSTS": "example.com",
            **env,
        }
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.REST_FRAMEWORK['NUM_PROXIES'], s.AXES_CLIENT_IP_CALLABLE)"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_production_trusts_no_forwarded_header_unless_a_proxy_is_configured():
    default = _production()
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == ["None", "0", "recommender_site.client_ip.client_ip"]
    behind_one = _production(DJANGO_TRUSTED_PROXY_COUNT="1")
    assert behind_one.stdout.split() == [
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "1",
        "recommender_site.client_ip.client_ip",
    ]


# --- 3. One username rule ------------------------------------------------------------------------------------


def test_a_fullwidth_admin_cannot_sign_up_beside_admin_anywhere(staff_client):
    UserFactory.create(username="admin")
    fullwidth = "\uff21\uff24\uff2d\uff29\uff2e"  # ADMIN in fullwidth letters
    api = APIClient().post(REGISTER, {"username": fullwidth, "password": STRONG}, format="json")
    assert api.status_code == 400
    assert error_of(api)["fields"]["username"] == ["That username is taken."]
    site = Client().post(
        "/accounts/signup/",
        {"username": fullwidth, "email": "x@example.com", "password1": STRONG, "password2": STRONG},
    )
    assert site.status_code == 200
    assert site.context["form"].errors["username"] == ["That username is taken."]
    admin = staff_client.post(
        "/admin/accounts/user/add/",
        {"username": fullwidth, "password1": STRONG, "password2": STRONG, "usable_password": "true"},
    )
    assert admin.status_code == 200
    assert admin.context["adminform"].form.errors["username"] == ["That username is taken."]
    assert sorted(User.objects.values_list("username", flat=True)) == ["admin", "boss"]


def test_the_database_refuses_a_case_variant_of_a_taken_name():
    from django.db import IntegrityError, transaction

    UserFactory.create(username="Grace")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="gRACE")


# --- 4. Placeholder secrets ----------------------------------------------------------------------------------


def test_the_env_example_secret_is_refused_by_check_deploy():
    example = next(
        line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("DJANGO_SECRET_KEY=")
    )
    result = _production(DJANGO_SECRET_KEY=example)
    assert result.returncode != 0
    assert "not an example or placeholder such as the one in .env.example" in result.stderr


# --- 5. Tokens -----------------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_expire(settings):
    member = UserFactory.create(username="tok")
    key = APIClient().post(TOKEN, {"username": "tok", "password": PASSWORD}, format="json").json()["token"]
    stored = AuthToken.objects.get(user=member)
    assert stored.digest == hash_token(key)
    assert key not in json.dumps(list(AuthToken.objects.values()), default=str)
    assert stored.expiry is not None
    assert timedelta(days=29) < stored.expiry - timezone.now() <= timedelta(days=30)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/ratings/").status_code == 200
    assert client.get("/api/v1/me/ratings/").status_code == 200  # now from the token cache
    later = stored.expiry + timedelta(seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):  # the clock: the token's time is up
        expired = client.get("/api/v1/me/ratings/")
    assert expired.status_code == 401
    assert error_of(expired)["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(pk=stored.pk).exists()  # an expired token is deleted when shown


def test_a_password_change_on_the_site_revokes_every_token():
    member = UserFactory.create(username="chg")
    api = token_client(member)
    assert api.get("/api/v1/me/ratings/").status_code == 200
    site = Client()
    site.force_login(member)
    new = "An0ther-Secret-pass!"
    response = site.post(
        "/accounts/password/change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=member).exists()
    assert api.get("/api/v1/me/ratings/").status_code == 401


def test_a_password_change_through_the_api_revokes_every_token_and_returns_a_new_one():
    member = UserFactory.create(username="apichg")
    api, other_device = token_client(member), token_client(member)
    new = "An0ther-Secret-pass!"
    wrong = api.post("/api/v1/auth/password/", {"old_password": "nope", "new_password": new}, format="json")
    assert wrong.status_code == 400
    assert error_of(wrong)["fields"]["old_password"] == ["Your old password is not right."]
    weak = api.post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": "12345678"}, format="json"
    )
    assert weak.status_code == 400
    assert "new_password" in error_of(weak)["fields"]
    assert AuthToken.objects.filter(user=member).count() == 2
    done = api.post("/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": new}, format="json")
    assert done.status_code == 200
    assert [t.digest for t in AuthToken.objects.filter(user=member)] == [hash_token(done.json()["token"])]
    assert api.get("/api/v1/me/ratings/").status_code == 401
    assert other_device.get("/api/v1/me/ratings/").status_code == 401
    member.refresh_from_db()
    assert member.check_password(new)


def test_members_list_and_revoke_only_their_own_tokens():
    alice, bob = UserFactory.create(username="al"), UserFactory.create(username="bo")
    first = token_client(alice)
    _, second_key = AuthToken.objects.create(alice)
    bobs_token, _ = AuthToken.objects.create(bob)
    listed = first.get(TOKENS)
    assert listed.status_code == 200
    rows = listed.json()
    assert len(rows) == 2
    assert sorted(r["current"] for r in rows) == [False, True]
    assert all(len(r["key_prefix"]) == 15 for r in rows)
    # Bob's token cannot be revoked by Alice (the answer is the same, nothing happens).
    assert first.delete(f"{TOKENS}{bobs_token.token_key}/").status_code == 204
    assert AuthToken.objects.filter(user=bob).count() == 1
    assert first.delete(f"{TOKENS}{second_key[:15]}/").status_code == 204
    assert AuthToken.objects.filter(user=alice).count() == 1
    assert first.delete(TOKENS).status_code == 204
    assert not AuthToken.objects.filter(user=alice).exists()


def test_the_admin_never_shows_a_token_or_its_digest(staff_client):
    member = UserFactory.create()
    token, key = AuthToken.objects.create(member)
    page = staff_client.get("/admin/knox/authtoken/")
    assert page.status_code == 200
    # Neither the key nor its first characters; the digest (not usable as a key) only in links.
    assert key.encode() not in page.content
    assert token.token_key.encode() not in page.content
    assert f">{token.digest}".encode() not in page.content
    assert staff_client.get("/admin/knox/authtoken/add/").status_code == 403


# --- 6. Email: unique, and sign-up never says whose an address is ---------------------------------------------


def test_signing_up_with_a_taken_email_answers_as_usual_and_mails_the_owner():
    UserFactory.create(username="owner", email="taken@example.com")
    free = APIClient().post(
        REGISTER, {"username": "new1", "password": STRONG, "email": "free@example.com"}, format="json"
    )
    taken = APIClient().post(
        REGISTER, {"username": "new2", "password": STRONG, "email": "TAKEN@example.com"}, format="json"
    )
    assert (free.status_code, taken.status_code) == (201, 201)
    assert free.json()["user"]["email"] == taken.json()["user"]["email"] == ""
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["free@example.com"], "Confirm your email address"),
        (["TAKEN@example.com"], "Someone tried to sign up with your email address"),
    ]
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    # The site's sign-up: the same redirect and welcome as with a free address, and the owner is told.
    mail.outbox.clear()
    site = Client().post(
        "/accounts/signup/",
        {"username": "new3", "email": "taken@example.com", "password1": STRONG, "password2": STRONG},
    )
    assert (site.status_code, site["Location"]) == (302, "/welcome/")
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["taken@example.com"], "Someone tried to sign up with your email address")
    ]
    assert User.objects.get(username="new3").email == ""
    # A reset to that address mails its one account.
    mail.outbox.clear()
    Client().post("/accounts/password/reset/", {"email": "taken@example.com"})
    assert len(mail.outbox) == 1
    assert "owner" in mail.outbox[0].body


def test_a_confirmation_link_cannot_attach_an_address_taken_meanwhile():
    APIClient().post(
        REGISTER, {"username": "late", "password": STRONG, "email": "race@example.com"}, format="json"
    )
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/email/confirm/" in line)
    UserFactory.create(username="early", email="race@example.com")
    response = Client().get(link.replace("http://testserver", ""))
    assert response.status_code == 400
    assert b"That email address belongs to another account." in response.content
    assert User.objects.get(username="late").email == ""
    forged = Client().get("/accounts/email/confirm/not-a-signed-token/")
    assert forged.status_code == 400


# --- 7. Password reset is rate limited ----------------------------------------------------------------------


def test_password_resets_are_limited_per_address_and_per_client():
    UserFactory.create(username="victim", email="victim@example.com")
    client = Client(REMOTE_ADDR="192.0.2.10")
    codes = [
        client.post("/accounts/password/reset/", {"email": "victim@example.com"}).status_code
        for _ in range(10)
    ]
    assert codes == [302] * 10  # the page never says whether anything was sent...
    assert len(mail.outbox) == 3  # ...but only 3 mails go to one address per hour
    refused = client.post("/accounts/password/reset/", {"email": "other@example.com"})
    assert refused.status_code == 429
    assert b"Too many password resets were asked for from your address" in refused.content
    assert (
        Client(REMOTE_ADDR="192.0.2.11")
        .post("/accounts/password/reset/", {"email": "x@example.com"})
        .status_code
        == 302
    )


# --- 8. The admin protects what the pipeline depends on -----------------------------------------------------


def test_the_admin_cannot_delete_the_active_version_or_a_run_holding_the_lock(staff_client):
    active = ModelVersion.objects.create(
        artifact_path="/tmp/a", data_fingerprint="f", is_active=True, activated_at=timezone.now()
    )
    old = ModelVersion.objects.create(artifact_path="/tmp/b", data_fingerprint="g")
    queued = TrainingRun.objects.create()
    assert queued.holds_lock is True
    assert (
        staff_client.post(
            f"/admin/recommendations/modelversion/{active.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        staff_client.post(
            f"/admin/recommendations/trainingrun/{queued.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    for model in ("modelversion", "trainingrun"):
        page = staff_client.get(f"/admin/recommendations/{model}/")
        assert b'value="delete_selected"' not in page.content
    assert ModelVersion.objects.filter(pk=active.pk, is_active=True).exists()
    assert TrainingRun.objects.filter(pk=queued.pk, holds_lock=True).exists()
    # What is not served may go.
    assert (
        staff_client.post(
            f"/admin/recommendations/modelversion/{old.pk}/delete/", {"post": "yes"}
        ).status_code
        == 302
    )
    assert not ModelVersion.objects.filter(pk=old.pk).exists()


# --- 9. CSV export formula guard ---------------------------------------------------------------------------


def test_the_csv_export_quotes_titles_starting_with_tab_or_carriage_return():
    member = UserFactory.create()
    for title in ("\t=1+1", "\r=1+1", "=1+1", "Plain"):
        RatingFactory.create(user=member, movie=MovieFactory.create(title=title), value=4.0)
    client = Client()
    client.force_login(member)
    body = b"".join(client.get("/me/ratings.csv").streaming_content).decode()
    assert "'\t=1+1" in body
    assert "'\r=1+1" in body
    assert "'=1+1" in body
    assert "'Plain" not in body


# --- 10. Content-Security-Policy ----------------------------------------------------------------------------


def _directives(policy: str) -> set[str]:
    """A policy's directives, whatever their order (the header's order varies between processes)."""
    return {d.strip() for d in policy.split(";") if d.strip()}


def test_pages_carry_a_content_security_policy():
    policy = Client().get("/")["Content-Security-Policy"]
    directives = _directives(policy)
    assert "default-src 'self'" in directives
    assert "script-src 'self'" in directives  # the whole directive: no other script source
    assert "object-src 'none'" in directives
    assert "frame-ancestors 'none'" in directives
    assert "cdn.jsdelivr.net" not in policy
    # Swagger UI's page alone may load its files from the CDN; its script is served from here.
    docs = Client().get("/api/docs/")
    assert "script-src 'self' https://cdn.jsdelivr.net" in _directives(docs["Content-Security-Policy"])
    assert b"<script>" not in docs.content


# --- Schema conformance (schemathesis' findings) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/movies/?ordering=", 400),
        ("/api/v1/movies/?genre=", 400),
        ("/api/v1/movies/?page=", 404),
        ("/api/v1/movies/?decade=1866", 400),
        ("/api/v1/me/recommendations/?genre=", 400),
        ("/api/v1/me/ratings/?ordering=", 400),
    ],
)
def test_empty_or_off_grid_query_parameters_are_refused(path, status):
    response = token_client(UserFactory.create()).get(path)
    assert response.status_code == status
    assert error_of(response)["code"] in ("invalid", "not_found")


def test_force_must_be_a_json_boolean_and_the_schema_says_what_it_checks():
    staff = token_client(UserFactory.create(is_staff=True))
    response = staff.post("/api/v1/training-runs/", {"force": 0}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"]["force"] == ["Must be true or false (a JSON boolean)."]
    assert not TrainingRun.objects.exists()
    schema = json.loads(Client().get("/api/schema/?format=json").content)
    password = schema["components"]["schemas"]["RegisterInputRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 1024)
    decade = next(p for p in schema["paths"]["/api/v1/movies/"]["get"]["parameters"] if p["name"] == "decade")
    assert decade["schema"]["multipleOf"] == 10
