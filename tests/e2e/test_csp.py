"""Every page of the site, as a visitor, a member and staff, passes the site's Content-Security-Policy:
Chromium reports no violation (the `page` fixture fails the test on any), and the header is there."""

import pytest

from ratings.models import Rating
from ratings.services import rating_upsert
from tests.factories import UserFactory

from .conftest import PASSWORD, log_in

pytestmark = pytest.mark.e2e

VISITOR_PAGES = ["/", "/movies/", "/movies/?q=star&decade=1970", "/accounts/login/", "/accounts/signup/",
                 "/accounts/password/reset/", "/no-such-page/"]  # fmt: skip
MEMBER_PAGES = ["/", "/picks/", "/welcome/", "/me/ratings/", "/me/ratings/about/", "/me/watchlist/",
                "/me/hidden/", "/accounts/", "/accounts/password/change/"]  # fmt: skip
STAFF_PAGES = ["/admin/", "/admin/catalog/movie/", "/admin/accounts/user/", "/admin/recommendations/trainingrun/",
               "/admin/recommendations/modelversion/", "/admin/knox/authtoken/"]  # fmt: skip


def visit(page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert "script-src 'self'" in (response.header_value("Content-Security-Policy") or ""), path
    page.wait_for_load_state("networkidle")


def test_visitor_pages_pass_the_content_security_policy(page, catalogue):
    movie = catalogue["Fargo"]
    for path in [*VISITOR_PAGES, f"/movies/{movie.pk}/"]:
        visit(page, path)


def test_member_pages_pass_the_content_security_policy(page, catalogue):
    member = UserFactory(username="csp-member")
    member.set_password(PASSWORD)
    member.save()
    movie = catalogue["Fargo"]
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=4.5)
    log_in(page, "csp-member")
    for path in [*MEMBER_PAGES, f"/movies/{movie.pk}/"]:
        visit(page, path)
    # The in-place rating (site.js through the API) runs under the policy too.
    heat = catalogue["Heat"]
    page.goto(f"/movies/{heat.pk}/")
    # The movie's own widget comes first; the similar-movie cards below have widgets of their own.
    page.locator("[data-rating-form]").first.locator("label[title='5 stars']").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/movies/{heat.pk}/")
    assert Rating.objects.filter(user=member, movie=heat).exists()


def test_admin_pages_pass_the_content_security_policy(page, catalogue):
    staff = UserFactory(username="csp-staff", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    visit(page, "/admin/login/")
    page.get_by_label("Username").fill("csp-staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    for path in [*STAFF_PAGES, f"/admin/catalog/movie/{catalogue['Fargo'].pk}/change/"]:
        visit(page, path)
