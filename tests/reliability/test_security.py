"""Nobody let in: production headers and cookies, Django's default password hasher and validators,
CSRF on every form, no member reading or changing another's rows (IDOR), staff actions refused to
members, revocable tokens, and brute-force lockout per account and per address.

`manage.py check --deploy` is tests/site_config/test_settings.py
(test_check_deploy_is_clean_with_production_settings)."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from ratings.models import HiddenMovie, Rating, WatchlistEntry
from ratings.services import hidden_add, rating_upsert, watchlist_add
from recommendations.models import ModelVersion, TrainingRun
from tests.factories import MovieFactory, UserFactory

from .support import HTTPS, rows
from .support import Client as HttpClient

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


# --- Production settings, over real HTTP --------------------------------------------------------------------


@pytest.mark.integration
def test_production_sends_security_headers_secure_cookies_and_hashes_passwords_with_pbkdf2(stack):
    base = stack.web(workers=1, threads=2)
    plain = HttpClient(base)
    plain.http.headers.pop("X-Forwarded-Proto")
    redirected = plain.request("GET", "/accounts/login/")
    assert redirected.status_code == 301
    assert redirected.headers["Location"].startswith("https://")

    page = HttpClient(base).request("GET", "/accounts/login/")
    assert page.status_code == 200
    headers = page.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csrf_cookie = page.headers["Set-Cookie"]
    assert "csrftoken=" in csrf_cookie
    assert "Secure" in csrf_cookie
    assert "SameSite=Lax" in csrf_cookie

    api = HttpClient(base)
    weak = api.request("POST", "/api/v1/auth/register/", json={"username": "eve", "password": "password"})
    assert weak.status_code == 400
    assert "password" in weak.json()["error"]["fields"]
    made = api.request(
        "POST", "/api/v1/auth/register/", json={"username": "eve", "password": "Long-and-unusual-42!"}
    )
    assert made.status_code == 201, made.text
    (stored,), = rows(stack.database_url, "SELECT password FROM accounts_user WHERE username = 'eve'")  # fmt: skip
    algorithm, iterations, _salt, _hash = stored.split("$")
    assert algorithm == "pbkdf2_sha256"
    assert int(iterations) >= 1_000_000

    # A session log-in through the form: the session cookie is Secure and HttpOnly.
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    token = found[1]
    cookie = csrf_cookie.split(";")[0]
    login = HttpClient(base).request(
        "POST", "/accounts/login/", data={"username": "eve", "password": "Long-and-unusual-42!",
                                          "csrfmiddlewaretoken": token},
        headers={"Cookie": cookie, "Referer": base.replace("http://", "https://") + "/accounts/login/", **HTTPS},
    )  # fmt: skip
    assert login.status_code == 302, login.text[:500]
    session = next(c for c in login.raw.headers.getlist("Set-Cookie") if c.startswith("sessionid="))
    assert "Secure" in session
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session


# --- CSRF on every form -------------------------------------------------------------------------------------


@pytest.fixture
def alice_and_bob(db):
    alice = UserFactory.create(username="alice")
    bob = UserFactory.create(username="bob")
    movies = [MovieFactory.create(title=f"Secret {i}") for i in range(3)]
    rating_upsert(user_id=bob.pk, movie_id=movies[0].pk, value=1.5)
    hidden_add(user_id=bob.pk, movie_id=movies[1].pk)
    watchlist_add(user_id=bob.pk, movie_id=movies[2].pk)
    return alice, bob, movies


MEMBER_PAGES = ["/", "/movies/", "/movies/{m}/", "/welcome/", "/me/ratings/", "/me/watchlist/", "/me/hidden/",
                "/picks/", "/accounts/", "/accounts/password/change/", "/me/ratings/about/"]  # fmt: skip
VISITOR_PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]


def test_every_post_form_on_every_page_carries_a_csrf_token(alice_and_bob):
    alice, _bob, movies = alice_and_bob
    rating_upsert(user_id=alice.pk, movie_id=movies[0].pk, value=4.0)
    member = Client()
    member.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    forms_seen = 0
    for client, pages in ((member, MEMBER_PAGES), (Client(), VISITOR_PAGES)):
        for path in pages:
            response = client.get(path.format(m=movies[0].pk))
            assert response.status_code == 200, path
            html = response.content.decode()
            for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
                if re.search(r'method="post"', form, flags=re.I):
                    forms_seen += 1
                    assert 'name="csrfmiddlewaretoken"' in form, (path, form[:200])
    assert forms_seen >= 10


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/movies/{m}/rating/", {"value": "4"}),
        ("/movies/{m}/rating/remove/", {}),
        ("/movies/{m}/hide/", {"state": "on"}),
        ("/movies/{m}/watchlist/", {"state": "on"}),
        ("/welcome/skip/{m}/", {}),
        ("/accounts/logout/", {}),
        (
            "/accounts/password/change/",
            {
                "old_password": PASSWORD,
                "new_password1": "Long-and-unusual-42!",
                "new_password2": "Long-and-unusual-42!",
            },
        ),
    ],
)
def test_member_forms_refuse_a_post_without_the_csrf_token(alice_and_bob, path, data):
    alice, _, movies = alice_and_bob
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    before = (sorted(Rating.objects.values_list("pk", "value")), HiddenMovie.objects.count(),
              WatchlistEntry.objects.count(), User.objects.get(pk=alice.pk).password)  # fmt: skip
    response = client.post(path.format(m=movies[0].pk), data)
    assert response.status_code == 403
    after = (sorted(Rating.objects.values_list("pk", "value")), HiddenMovie.objects.count(),
             WatchlistEntry.objects.count(), User.objects.get(pk=alice.pk).password)  # fmt: skip
    assert after == before


# --- Authorization: nobody else's rows, no staff actions for members ---------------------------------------


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def test_a_member_can_neither_read_nor_change_another_members_rows_through_the_api(alice_and_bob):
    alice, bob, movies = alice_and_bob
    api = token_client(alice)
    bobs = (list(Rating.objects.filter(user=bob).values_list("movie_id", "value")),
            list(HiddenMovie.objects.filter(user=bob).values_list("movie_id", flat=True)),
            list(WatchlistEntry.objects.filter(user=bob).values_list("movie_id", flat=True)))  # fmt: skip
    for kind, movie in (("ratings", movies[0]), ("hidden", movies[1]), ("watchlist", movies[2])):
        assert api.get(f"/api/v1/me/{kind}/{movie.pk}/").status_code == 404
        listed = api.get(f"/api/v1/me/{kind}/", {"user": bob.pk, "user_id": bob.pk})
        assert listed.status_code == 200
        assert listed.json()["count"] == 0
        assert api.delete(f"/api/v1/me/{kind}/{movie.pk}/").status_code == 204  # deletes nothing of Bob's
    assert (
        api.put(
            f"/api/v1/me/ratings/{movies[0].pk}/", {"value": 5, "user": bob.pk}, format="json"
        ).status_code
        == 201
    )
    detail = api.get(f"/api/v1/movies/{movies[0].pk}/").json()
    assert detail["me"]["rating"] == 5.0
    assert (list(Rating.objects.filter(user=bob).values_list("movie_id", "value")),
            list(HiddenMovie.objects.filter(user=bob).values_list("movie_id", flat=True)),
            list(WatchlistEntry.objects.filter(user=bob).values_list("movie_id", flat=True))) == bobs  # fmt: skip
    picks = api.get("/api/v1/me/recommendations/", {"user_id": bob.pk}).json()
    assert picks["personal"] is False or all(i["movie"]["id"] != movies[1].pk for i in picks["items"])


def test_a_member_sees_only_their_own_rows_on_the_site(alice_and_bob):
    alice, bob, movies = alice_and_bob
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    for path in ("/me/ratings/", "/me/watchlist/", "/me/hidden/", "/me/ratings.csv", "/me/ratings/about/"):
        response = client.get(path, {"user": bob.pk})
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200
        assert b"Secret" not in body, path
    assert client.post(f"/movies/{movies[0].pk}/rating/remove/").status_code == 302
    assert client.post(f"/movies/{movies[1].pk}/hide/", {"state": "off"}).status_code == 302
    assert client.post(f"/movies/{movies[2].pk}/watchlist/", {"state": "off"}).status_code == 302
    assert Rating.objects.filter(user=bob).count() == 1
    assert HiddenMovie.objects.filter(user=bob).count() == 1
    assert WatchlistEntry.objects.filter(user=bob).count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/training-runs/"),
        ("POST", "/api/v1/training-runs/"),
        ("GET", "/api/v1/training-runs/{run}/"),
        ("GET", "/api/v1/models/"),
        ("GET", "/api/v1/models/{version}/"),
        ("POST", "/api/v1/models/{version}/activate/"),
    ],
)
def test_staff_api_refuses_members_and_visitors(alice_and_bob, method, path):
    alice, _, _ = alice_and_bob
    run = TrainingRun.objects.create(trigger="api", holds_lock=None, status="succeeded")
    version = ModelVersion.objects.create(
        artifact_path="/nonexistent/v1", data_fingerprint="x", training_run=run
    )
    url = path.format(run=run.pk, version=version.pk)
    assert token_client(alice).generic(method, url, b"{}", "application/json").status_code == 403
    assert APIClient().generic(method, url, b"{}", "application/json").status_code == 401
    assert TrainingRun.objects.count() == 1
    assert ModelVersion.objects.filter(is_active=True).count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/recommendations/trainingrun/",
        "/admin/recommendations/modelversion/",
        "/admin/accounts/user/",
        "/admin/ratings/rating/",
    ],
)
def test_the_admin_refuses_members(alice_and_bob, path):
    alice, _, _ = alice_and_bob
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_revoked_token_stops_working_everywhere_at_once(alice_and_bob):
    alice, _, movies = alice_and_bob
    api = token_client(alice)
    for path in ("/api/v1/me/recommendations/", "/api/v1/me/ratings/", f"/api/v1/movies/{movies[0].pk}/"):
        assert api.get(path).status_code == 200
    assert api.delete("/api/v1/auth/token/").status_code == 204
    for path in ("/api/v1/me/recommendations/", "/api/v1/me/ratings/", "/api/v1/me/watchlist/"):
        response = api.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "authentication_failed"
    assert api.put(f"/api/v1/me/ratings/{movies[0].pk}/", {"value": 4}, format="json").status_code == 401
    assert not Rating.objects.filter(user=alice).exists()


# --- Brute force ----------------------------------------------------------------------------------------------

TOKEN = "/api/v1/auth/token/"
LOGIN = "/accounts/login/"


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_one_address_trying_many_accounts_is_locked_out(db):
    """Password spraying: three wrong passwords for three accounts from one address lock the address."""
    victims = [UserFactory.create(username=f"victim{i}") for i in range(4)]
    attacker = APIClient(REMOTE_ADDR="198.51.100.7")
    statuses = [
        attacker.post(TOKEN, {"username": v.username, "password": "wrong"}).status_code for v in victims[:3]
    ]
    assert statuses[:2] == [400, 400]
    assert statuses[2] in (400, 429)
    locked = attacker.post(TOKEN, {"username": victims[3].username, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    site = Client(REMOTE_ADDR="198.51.100.7").post(
        LOGIN, {"username": victims[3].username, "password": PASSWORD}
    )
    assert site.status_code == 429
    # A forged X-Forwarded-For does not make a new address (only REMOTE_ADDR counts here).
    forged = APIClient(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert forged.post(TOKEN, {"username": victims[3].username, "password": PASSWORD}).status_code == 429
    assert not AuthToken.objects.exists()
    # Someone else, from elsewhere, is not affected. (Attempts while locked count against the account
    # too: victim3 is now locked everywhere, the price of per-account lockout.)
    UserFactory.create(username="bystander")
    elsewhere = APIClient(REMOTE_ADDR="192.0.2.1")
    assert elsewhere.post(TOKEN, {"username": "bystander", "password": PASSWORD}).status_code == 200


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_one_account_tried_from_many_addresses_is_locked_out(db):
    """A botnet guessing one password: failures from three addresses lock the account everywhere,
    on the site's form and on the token endpoint alike."""
    UserFactory.create(username="alice")
    statuses = [
        APIClient(REMOTE_ADDR=f"198.51.100.{i + 1}")
        .post(TOKEN, {"username": "alice", "password": f"guess{i}"})
        .status_code
        for i in range(3)
    ]
    assert statuses[:2] == [400, 400]
    assert statuses[2] in (400, 429)
    assert (
        APIClient(REMOTE_ADDR="192.0.2.50")
        .post(TOKEN, {"username": "alice", "password": PASSWORD})
        .status_code
        == 429
    )
    assert (
        Client(REMOTE_ADDR="192.0.2.51").post(LOGIN, {"username": "alice", "password": PASSWORD}).status_code
        == 429
    )
    assert not AuthToken.objects.exists()
