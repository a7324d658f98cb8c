"""Sign up, log in (rate-limited), log out, password change and reset."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.factories import DatasetUserFactory, UserFactory

from .conftest import PASSWORD

User = get_user_model()
NEW_PASSWORD = "Tulip-garden-4411"


def signup(client, **overrides):
    data = {
        "username": "carol",
        "email": "carol@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    return client.post("/accounts/signup/", {**data, **overrides})


def test_visitor_home_links_to_sign_up(db):
    response = Client().get("/")
    assert response.status_code == 200
    assert 'href="/accounts/signup/"' in response.content.decode()


def test_sign_up_page_has_the_form(db):
    response = Client().get("/accounts/signup/")
    html = response.content.decode()
    assert response.status_code == 200
    for name in ("username", "email", "password1", "password2", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in html


def test_sign_up_creates_a_member_logs_them_in_and_starts_onboarding(db):
    client = Client()
    response = signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/welcome/"
    user = User.objects.get(username="carol")
    assert user.has_usable_password()
    assert user.check_password(NEW_PASSWORD)
    # The address is attached once its owner follows the link mailed to it.
    assert user.email == ""
    (message,) = mail.outbox
    assert message.to == ["carol@example.com"]
    link = next(line for line in message.body.splitlines() if "/accounts/email/confirm/" in line)
    assert Client().get(link.replace("http://testserver", "")).status_code == 200
    user.refresh_from_db()
    assert user.email == "carol@example.com"
    assert user.dataset_source == ""
    assert client.get("/welcome/").context["user"] == user


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        # Rules about the password show under the password, not under its confirmation.
        ({"password1": "password", "password2": "password"}, "password1", "This password is too common."),
        (
            {"password1": "12345678901", "password2": "12345678901"},
            "password1",
            "This password is entirely numeric.",
        ),
        (
            {"username": "marmaladefox", "password1": "marmaladefox1", "password2": "marmaladefox1"},
            "password1",
            "The password is too similar to the username.",
        ),
        ({"password2": "something-else-7"}, "password2", "The two password fields didn’t match."),
        ({"username": "movielens:1"}, "username", "Usernames cannot contain ':'."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ],
)
def test_sign_up_refuses_bad_input_and_creates_nothing(db, overrides, field, message):
    response = signup(Client(), **overrides)
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert not User.objects.exists()


def test_sign_up_refuses_a_taken_username_but_does_not_say_whose_the_email_is(db):
    UserFactory(username="Carol", email="someone@example.com")
    response = signup(Client(), email="SOMEONE@example.com")
    errors = response.context["form"].errors
    assert errors["username"] == ["That username is taken."]
    assert "email" not in errors
    assert User.objects.count() == 1


def test_login_and_logout(member):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"] == member
    assert client.get("/accounts/logout/").status_code == 405  # logging out is a POST
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").context["user"].is_authenticated is False


def test_login_with_a_wrong_password_says_so(member):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_dataset_users_cannot_log_in(db):
    DatasetUserFactory(dataset_user_id="196")
    response = Client().post("/accounts/login/", {"username": "movielens:196", "password": ""})
    assert response.status_code == 200
    assert response.context["user"].is_authenticated is False


def test_login_is_locked_after_repeated_failures(member, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert Client().get("/").context["user"].is_authenticated is False


def test_password_change_needs_login_and_validates(member, member_client):
    assert Client().get("/accounts/password/change/")["Location"].startswith("/accounts/login/?next=")
    weak = member_client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": "abc", "new_password2": "abc"},
    )
    assert "This password is too short. It must contain at least 8 characters." in weak.content.decode()
    response = member_client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/accounts/password/change/done/"
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_password_reset_by_email(member):
    client = Client()
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    found = re.search(r"http://testserver(/accounts/password/reset/\S+/)", str(mail.outbox[0].body))
    assert found is not None
    link = found.group(1)
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"] is True
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == "/accounts/password/reset/complete/"
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(db):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


def test_account_page_is_personal(member_client):
    assert Client().get("/accounts/")["Location"] == "/accounts/login/?next=/accounts/"
    html = member_client.get("/accounts/").content.decode()
    assert "alice@example.com" in html
    assert 'href="/accounts/password/change/"' in html


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (
            "/accounts/signup/",
            {"username": "x", "email": "x@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        ),
        ("/accounts/login/", {"username": "alice", "password": PASSWORD}),
    ],
)
def test_account_forms_enforce_csrf(member, url, data):
    response = Client(enforce_csrf_checks=True).post(url, data)
    assert response.status_code == 403
    assert "That form expired" in response.content.decode()


def test_sign_up_from_a_movie_page_comes_back_to_it(db):
    from tests.factories import MovieFactory

    movie = MovieFactory(title="Fargo", year=1996)
    page = Client().get(f"/movies/{movie.pk}/").content.decode()
    assert f'href="/accounts/signup/?next=/movies/{movie.pk}/"' in page
    form = Client().get("/accounts/signup/", {"next": f"/movies/{movie.pk}/"}).content.decode()
    assert f'<input type="hidden" name="next" value="/movies/{movie.pk}/">' in form
    assert f'href="/accounts/login/?next=/movies/{movie.pk}/"' in form
    response = signup(Client(), next=f"/movies/{movie.pk}/")
    assert response["Location"] == f"/movies/{movie.pk}/"
    # Somewhere else is refused: the usual first step instead.
    assert (
        signup(Client(), username="dan", email="dan@example.com", next="https://evil.example/")["Location"]
        == "/welcome/"
    )
