"""The site in a real Chromium: sign up -> onboarding -> personal picks -> rate and hide from the picks;
search and filter; the rating widget without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from ratings.models import HiddenMovie, Rating, WatchlistEntry
from tests.factories import UserFactory

from .conftest import PASSWORD, log_in, shot

pytestmark = pytest.mark.e2e


def card_titles(page):
    return page.locator("[data-picks] .card__title").all_inner_texts()


def test_sign_up_onboarding_personal_picks_rate_and_hide(page, catalogue, eager_celery):
    page.goto("/")
    shot(page, "01-home-visitor")
    page.get_by_role("link", name="Sign up", exact=True).click()
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Email").fill("dora@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    # Onboarding: rate five well-known movies with the star widget (one by keyboard), skip one.
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    expect(page.get_by_role("heading", name="Rate movies you’ve seen")).to_be_visible()
    user = User.objects.get(username="dora")
    cards = page.locator("[data-card]")
    skipped_title = cards.nth(0).locator(".card__title").inner_text()
    cards.nth(0).get_by_role("button", name="Haven’t seen it").click()
    expect(page.get_by_text(skipped_title, exact=True)).to_have_count(0)
    rated = []
    for i, stars in enumerate(["4 stars", "4.5 stars", "3 stars", "5 stars"]):
        card = cards.nth(i)
        rated.append(card.locator(".card__title").inner_text())
        card.locator(f"label[title='{stars}']").click()
        expect(card.locator("[data-rating-status]")).to_have_text(f"Saved: {stars}.")
    keyboard_card = cards.nth(4)
    rated.append(keyboard_card.locator(".card__title").inner_text())
    keyboard_card.locator("input[type=radio]").first.focus()
    for _ in range(7):  # 0.5 -> 4.0 with the arrow key: nothing is saved while moving
        page.keyboard.press("ArrowRight")
    expect(keyboard_card.locator("[data-rating-status]")).to_have_text("4 stars: press Enter to save.")
    assert Rating.objects.filter(user=user).count() == 4
    page.keyboard.press("Enter")
    expect(keyboard_card.locator("[data-rating-status]")).to_have_text("Saved: 4 stars.")
    expect(page.locator("[data-onboarding-text]")).to_have_text(
        "You’ve rated 5 movies: your picks are ready."
    )
    shot(page, "02-onboarding-done")
    assert Rating.objects.filter(user=user).count() == 5
    assert dict(Rating.objects.filter(user=user).values_list("movie__title", "value"))[rated[4]] == 4.0

    # Personal picks with reasons, none of them rated or skipped.
    page.get_by_role("link", name="See your picks →").click()
    expect(page).to_have_url(re.compile(r"/picks/$"))
    expect(page.locator(".source")).to_contain_text(
        re.compile(r"Based on your ratings|Popular in the genres you like")
    )
    titles = card_titles(page)
    assert len(titles) >= 5
    assert set(rated).isdisjoint(titles)
    reasons = page.locator("[data-picks] .card__reason").all_inner_texts()
    assert len(reasons) == len(titles)
    assert all(re.match(r"(Because you liked|Matches your taste|Popular in )", r) for r in reasons), reasons
    shot(page, "03-picks")

    # Rate a pick on the picks page: it leaves the list at once, and stays gone after a reload.
    first = titles[0]
    page.locator("[data-picks] [data-card]").first.locator("label[title='3.5 stars']").click()
    expect(page.locator("[data-picks] .card__title", has_text=first)).to_have_count(0)
    assert Rating.objects.get(user=user, movie__title=first).value == 3.5
    page.reload()
    assert first not in card_titles(page)

    # "Not interested": gone now and never back.
    second = card_titles(page)[0]
    page.locator("[data-picks] [data-card]").first.get_by_role("button", name="Not interested").click()
    expect(page.locator("[data-picks] .card__title", has_text=second)).to_have_count(0)
    assert HiddenMovie.objects.filter(user=user, movie__title=second).exists()
    page.reload()
    assert second not in card_titles(page)
    shot(page, "04-picks-after-rate-and-hide")

    # Home: top picks with reasons and honest freshness.
    page.goto("/")
    expect(page.get_by_role("heading", name="Top picks for you")).to_be_visible()
    assert first not in card_titles(page)
    assert second not in card_titles(page)
    shot(page, "05-home-member")

    # My ratings: six, the pick included; about page shows the numbers.
    page.get_by_role("link", name="My ratings").click()
    expect(page.locator(".rating-row")).to_have_count(6)
    shot(page, "06-my-ratings")
    page.get_by_role("link", name="About your ratings").click()
    expect(page.locator(".lede")).to_contain_text("You’ve rated 6 movies")
    shot(page, "07-about-ratings")


def test_search_and_filter(page, catalogue):
    page.goto("/")
    page.get_by_label("Search movies by title").fill("AMELIE")
    page.get_by_label("Search movies by title").press("Enter")
    expect(page.locator(".card__title")).to_have_text(["Amélie"])

    page.goto("/movies/")
    page.get_by_label("Genre").select_option("Horror")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".card__title")).to_have_text(["Scream", "Alien", "The Shining"])
    page.get_by_label("Decade").select_option("1970")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".card__title")).to_have_text(["Alien"])
    page.get_by_label("Sort by").select_option("title")
    page.get_by_label("Genre").select_option("")
    page.get_by_label("Decade").select_option("")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".card__title").first).to_have_text("Air Force One")
    shot(page, "08-browse")

    page.get_by_label("Title", exact=True).fill("zzzz")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="No movies found")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("Check the spelling")


def test_movie_page_rating_hide_and_watchlist_in_place(page, catalogue):
    UserFactory(username="erin", password=PASSWORD)
    log_in(page, "erin")
    movie = catalogue["Fargo"]
    page.goto(f"/movies/{movie.pk}/")
    panel = page.locator("#rate")
    expect(page.get_by_role("heading", name="Fargo")).to_be_visible()
    expect(page.get_by_role("link", name="IMDb")).to_have_count(0)
    page.locator(".panel label[title='4.5 stars']").click()
    expect(page.locator("[data-your-rating]")).to_have_text("★ 4.5")
    url_before = page.url
    panel.get_by_role("button", name="+ Watchlist").click()
    expect(panel.get_by_role("button", name="✓ On your watchlist")).to_be_visible()
    panel.get_by_role("button", name="Not interested").click()
    expect(panel.get_by_role("button", name="Hidden · show again")).to_be_visible()
    assert page.url == url_before  # saved in place, no reload
    user = User.objects.get(username="erin")
    assert Rating.objects.get(user=user, movie=movie).value == 4.5
    assert WatchlistEntry.objects.filter(user=user, movie=movie).exists()
    assert HiddenMovie.objects.filter(user=user, movie=movie).exists()
    shot(page, "09-movie-page")
    panel.get_by_role("button", name="Remove").click()
    expect(page.locator("[data-your-rating]")).to_have_text("Not rated yet")
    assert not Rating.objects.filter(user=user, movie=movie).exists()


def test_rating_widget_works_without_javascript(page_without_js, catalogue):
    page = page_without_js
    UserFactory(username="finn", password=PASSWORD)
    log_in(page, "finn")
    movie = catalogue["Casablanca"]
    page.goto(f"/movies/{movie.pk}/")
    panel = page.locator("#rate")
    page.locator(".panel label[title='3.5 stars']").click()
    panel.get_by_role("button", name="Save rating").click()
    expect(page.locator(".message")).to_have_text("You rated Casablanca (1942) 3.5 stars.")
    expect(page.locator("[data-your-rating]")).to_have_text("★ 3.5")
    panel.get_by_role("button", name="Remove").click()
    expect(page.locator(".message")).to_have_text("Removed your rating of Casablanca (1942).")
    panel.get_by_role("button", name="Not interested").click()
    expect(page.locator(".message")).to_have_text("Casablanca (1942) won’t be recommended to you again.")
    user = User.objects.get(username="finn")
    assert not Rating.objects.filter(user=user).exists()
    assert HiddenMovie.objects.filter(user=user, movie=movie).exists()
    shot(page, "10-movie-page-no-js")
