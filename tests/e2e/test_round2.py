"""Site round two in Chromium, at 1280x800 and 390x844: rating from every card, remembered skips, the
keyboard star widget, touch targets and contrast, onboarding on a phone, search, the small fixes, the
staff pages, and axe-core on every page type. Keyboard-only and no-JavaScript paths included."""

import itertools
import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from ratings.models import HiddenMovie, Rating, SkippedMovie, WatchlistEntry
from ratings.services import rating_upsert, watchlist_add
from tests.factories import MovieFactory, UserFactory
from tests.recommendations.conftest import TINY_TRAIN_CONFIG, build_world

from .conftest import PASSWORD, axe_violations, log_in, shot

pytestmark = pytest.mark.e2e


def member(page, username="gail"):
    user = UserFactory(username=username, password=PASSWORD)
    log_in(page, username)
    return user


def card(page, title):
    return page.locator("[data-card]").filter(
        has=page.locator(".card__title", has_text=re.compile(f"^{title}$"))
    )


def relative_luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted([relative_luminance(a), relative_luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


# --- 1. Rate, watchlist and hide from search cards, in place ----------------------------------------


def test_rate_watchlist_and_hide_from_search_cards_in_place(device_page, catalogue):
    page = device_page
    user = member(page)
    page.goto("/movies/?q=star+wars")
    url = page.url
    star_wars = card(page, "Star Wars")
    star_wars.locator("label[title='4.5 stars']").click()
    expect(star_wars.locator("[data-rating-status]")).to_have_text("Saved: 4.5 stars.")
    star_wars.get_by_role("button", name="+ Watchlist").click()
    expect(star_wars.get_by_role("button", name="✓ On your watchlist")).to_be_visible()
    star_wars.get_by_role("button", name="Not interested").click()
    expect(star_wars.get_by_role("button", name="Hidden · show again")).to_be_visible()
    assert page.url == url  # all in place
    assert Rating.objects.get(user=user, movie=catalogue["Star Wars"]).value == 4.5
    assert WatchlistEntry.objects.filter(user=user, movie=catalogue["Star Wars"]).exists()
    assert HiddenMovie.objects.filter(user=user, movie=catalogue["Star Wars"]).exists()
    shot(page, f"r2-search-cards-{page.device}")


def test_rate_from_a_browse_card_without_javascript(page_without_js, catalogue):
    page = page_without_js
    user = member(page, "hank")
    page.goto("/movies/?genre=Horror")
    alien = card(page, "Alien")
    alien.locator("label[title='3 stars']").click()
    alien.get_by_role("button", name="Save rating").click()
    expect(page.locator(".message")).to_have_text("You rated Alien (1979) 3 stars.")
    expect(page).to_have_url(re.compile(r"/movies/\?genre=Horror$"))  # back to the same list
    assert Rating.objects.get(user=user, movie=catalogue["Alien"]).value == 3.0


# --- 2. Skips are remembered --------------------------------------------------------------------------


def test_skipped_movies_are_never_offered_again(browser, live_server, catalogue):
    UserFactory(username="ivy", password=PASSWORD)
    first = browser.new_context(base_url=live_server.url)
    page = first.new_page()
    log_in(page, "ivy")
    page.goto("/welcome/")
    skipped = page.locator("[data-card] .card__title").first.inner_text()
    page.locator("[data-card]").first.get_by_role("button", name="Haven’t seen it").click()
    expect(page.locator(".card__title", has_text=re.compile(f"^{skipped}$"))).to_have_count(0)
    first.close()
    later = browser.new_context(base_url=live_server.url)
    page = later.new_page()
    log_in(page, "ivy")
    page.goto("/welcome/")
    expect(page.locator("[data-card]").first).to_be_visible()
    assert skipped not in page.locator(".card__title").all_inner_texts()
    page.goto("/")
    rate_more = page.locator("section", has=page.locator("#more-h"))
    assert skipped not in rate_more.locator(".card__title").all_inner_texts()
    # Home's "rate more" row has the button too, and it works without leaving the page.
    more = rate_more.locator("[data-card]").first
    title = more.locator(".card__title").inner_text()
    more.get_by_role("button", name="Haven’t seen it").click()
    expect(page.locator(".card__title", has_text=re.compile(f"^{re.escape(title)}$"))).to_have_count(0)
    user = User.objects.get(username="ivy")
    assert set(SkippedMovie.objects.filter(user=user).values_list("movie__title", flat=True)) == {
        skipped,
        title,
    }
    # Asking for them back.
    page.goto("/welcome/")
    page.get_by_role("button", name="Offer them again").click()
    expect(page.locator(".message")).to_have_text("2 skipped movies can be offered again.")
    later.close()


def test_skip_without_javascript(page_without_js, catalogue):
    page = page_without_js
    user = member(page, "jack")
    page.goto("/welcome/")
    skipped = page.locator("[data-card] .card__title").first.inner_text()
    page.locator("[data-card]").first.get_by_role("button", name="Haven’t seen it").click()
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    assert skipped not in page.locator(".card__title").all_inner_texts()
    assert SkippedMovie.objects.filter(user=user, movie__title=skipped).exists()


# --- 3. The star widget by keyboard -------------------------------------------------------------------


def test_star_widget_keyboard_pattern(device_page, catalogue):
    page = device_page
    user = member(page, "kim")
    movie = catalogue["Fargo"]
    page.goto(f"/movies/{movie.pk}/")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to your rating")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # 3 Tabs and an Enter to reach the widget
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("name", "value")
    # Not hidden under the sticky header.
    header = page.locator(".site-header").bounding_box()
    assert page.locator("#rate .stars").bounding_box()["y"] >= max(0, header["y"] + header["height"])
    # Focus is visible: a ring around the stars and a bar under the half star in focus.
    ring = page.locator("#rate .stars").evaluate("el => getComputedStyle(el).outlineStyle")
    assert ring == "solid"
    bar = page.locator("#rate .stars input:focus + .star").evaluate(
        "el => getComputedStyle(el, '::after').backgroundColor"
    )
    assert bar != "rgba(0, 0, 0, 0)"
    status = page.locator("#rate [data-rating-status]")
    for _ in range(6):  # 0.5 -> 3.5: exploring saves nothing
        page.keyboard.press("ArrowRight")
    expect(status).to_have_text("3.5 stars: press Enter to save.")
    expect(page.locator("#rate [data-rating-value]")).to_have_text("3.5")
    page.wait_for_timeout(600)
    assert not Rating.objects.filter(user=user).exists()
    page.keyboard.press("Enter")
    expect(status).to_have_text("Saved: 3.5 stars.")
    assert Rating.objects.get(user=user, movie=movie).value == 3.5
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")  # Space commits too
    expect(status).to_have_text("Saved: 3 stars.")
    assert Rating.objects.get(user=user, movie=movie).value == 3.0
    # Moving away unsaved puts the saved rating back.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    expect(page.locator("#rate [data-rating-value]")).to_have_text("3.0")
    # Remove by keyboard keeps focus (on Undo), and Undo brings the rating back.
    remove = page.locator("#rate").get_by_role("button", name="Remove")
    remove.focus()
    page.keyboard.press("Enter")
    expect(page.locator(":focus")).to_have_text("Undo")
    assert not Rating.objects.filter(user=user).exists()
    page.keyboard.press("Enter")
    expect(status).to_have_text("Saved: 3 stars.")
    expect(page.locator(":focus")).to_have_attribute("value", "3.0")
    assert Rating.objects.get(user=user, movie=movie).value == 3.0
    shot(page, f"r2-keyboard-{page.device}")


def test_star_widget_by_keyboard_without_javascript(page_without_js, catalogue):
    page = page_without_js
    user = member(page, "lena")
    movie = catalogue["Heat"]
    page.goto(f"/movies/{movie.pk}/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Skip to your rating
    page.keyboard.press("Tab")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Save rating")
    page.keyboard.press("Enter")
    expect(page.locator(".message")).to_have_text("You rated Heat (1995) 4 stars.")
    assert Rating.objects.get(user=user, movie=movie).value == 4.0


# --- 4. Touch targets and contrast --------------------------------------------------------------------


def test_half_star_targets_and_star_contrast(device_page, catalogue):
    page = device_page
    member(page, "mona")
    rating_upsert(user_id=User.objects.get(username="mona").pk, movie_id=catalogue["Star Wars"].pk, value=2.5)
    page.goto("/movies/")
    stars = page.locator("[data-card] label.star")
    assert stars.count() == 24 * 10
    for i in (0, 1, 9, 120, 239):
        box = stars.nth(i).bounding_box()
        assert box["width"] >= 24
        assert box["height"] >= 24
    # Every star's box stays inside its card (nothing overflows on a phone).
    first_card = page.locator("[data-card]").first.bounding_box()
    last_star = page.locator("[data-card]").first.locator("label.star").last.bounding_box()
    assert last_star["x"] + last_star["width"] <= first_card["x"] + first_card["width"]
    page.goto("/movies/?q=star+wars")
    sw = card(page, "Star Wars")
    surface = sw.evaluate("el => getComputedStyle(el).backgroundColor")
    empty = sw.locator("label.star").nth(9).locator(".star__shape")
    filled = sw.locator("label.star").nth(0).locator(".star__shape")
    assert contrast(empty.evaluate("el => getComputedStyle(el).backgroundColor"), surface) >= 3
    assert contrast(filled.evaluate("el => getComputedStyle(el).backgroundColor"), surface) >= 3


# --- 5. Onboarding on a phone -------------------------------------------------------------------------


def test_onboarding_keeps_progress_and_next_step_in_view_on_a_phone(browser, live_server, catalogue):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    UserFactory(username="nico", password=PASSWORD)
    log_in(page, "nico")
    page.goto("/welcome/")
    progress = page.locator("[data-onboarding-progress]")
    for i in range(5):
        item = page.locator("[data-card]").nth(i)
        item.scroll_into_view_if_needed()
        item.locator("label[title='4 stars']").click()
        expect(item.locator("[data-rating-status]")).to_have_text("Saved: 4 stars.")
        expect(progress).to_be_in_viewport(ratio=1)
    expect(page.locator("[data-onboarding-text]")).to_have_text(
        "You’ve rated 5 movies: your picks are ready."
    )
    done = page.get_by_role("link", name="See your picks →")
    expect(done).to_be_in_viewport(ratio=1)  # about 2,000 px down, the next step is in view
    assert page.evaluate("window.scrollY") > 1000
    assert page.locator("progress").evaluate("el => el.value") == 5
    shot(page, "r2-onboarding-phone")
    done.click()
    expect(page).to_have_url(re.compile(r"/picks/$"))
    context.close()


# --- 6. Search ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [("godfater", "The Godfather"), ("12 monkeys", "Twelve Monkeys"), ("star wars", "Star Wars")],
)
def test_typo_tolerant_ranked_search(page, catalogue, query, first):
    page.goto("/")
    page.get_by_label("Search movies by title").fill(query)
    page.get_by_label("Search movies by title").press("Enter")  # no suggestion chosen: the search
    expect(page.locator(".card__title").first).to_have_text(first)


def test_star_wars_finds_more_than_one_film(page, catalogue):
    MovieFactory(title="Star Trek: First Contact", year=1996, rating_count=365, rating_mean=3.66)
    page.goto("/movies/?q=star+wars")
    assert page.locator(".card__title").all_inner_texts() == ["Star Wars", "Star Trek: First Contact"]


def test_suggestions_as_you_type_by_keyboard(device_page, catalogue):
    page = device_page
    page.goto("/")
    box = page.get_by_role("combobox", name="Search movies by title")
    box.click()
    page.keyboard.type("godf")
    listbox = page.get_by_role("listbox", name="Suggested movies")
    expect(listbox.get_by_role("option").first).to_have_text("The Godfather (1972)")
    expect(box).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", re.compile(r"suggestions-1-0"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/movies/{catalogue['The Godfather'].pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("The Godfather")


def test_search_without_javascript_and_hints_from_the_catalogue(page_without_js, catalogue):
    page = page_without_js
    page.goto("/")
    page.get_by_label("Search movies by title").fill("casablanka")
    page.get_by_label("Search movies by title").press("Enter")
    expect(page.locator(".card__title").first).to_have_text("Casablanca")
    page.goto("/movies/?q=qqqqxx")
    hints = page.locator(".empty li", has_text="Popular here")
    expect(hints).to_contain_text("Star Wars")
    assert "matrix" not in page.locator(".empty").inner_text().lower()
    hints.get_by_role("link", name="Star Wars").click()
    expect(page.locator(".card__title").first).to_have_text("Star Wars")


# --- 7. Taste page; 8. small things -----------------------------------------------------------------------


def test_favourite_genres_by_how_much_the_member_likes_them(page, catalogue):
    user = member(page, "olga")
    for title, value in [
        ("Liar Liar", 5.0),
        ("Groundhog Day", 4.5),
        ("Fargo", 1.0),
        ("Heat", 1.5),
        ("Scream", 2.0),
    ]:
        rating_upsert(user_id=user.pk, movie_id=catalogue[title].pk, value=value)
    page.goto("/me/ratings/about/")
    rows = page.locator(".bars--genres tbody tr")
    expect(rows.first.locator("th")).to_have_text("Comedy")
    expect(rows.first.locator("td").nth(1)).to_have_text("2")
    expect(rows.last.locator("th")).to_have_text("Drama")  # one rating, 1 star


def test_a_rated_movie_leaves_the_watchlist(page, catalogue):
    user = member(page, "pia")
    for title in ("Alien", "Heat"):
        watchlist_add(user_id=user.pk, movie_id=catalogue[title].pk)
    page.goto("/me/watchlist/")
    card(page, "Alien").locator("label[title='4 stars']").click()
    expect(card(page, "Alien")).to_have_count(0)
    page.reload()
    assert page.locator(".card__title").all_inner_texts() == ["Heat"]


def test_remove_on_my_ratings_can_be_undone(page, catalogue):
    user = member(page, "quinn")
    rating_upsert(user_id=user.pk, movie_id=catalogue["Alien"].pk, value=4.5)
    page.goto("/me/ratings/")
    row = page.locator(".rating-row").first
    row.get_by_role("button", name="Remove").click()
    expect(row.locator("[data-rating-status]")).to_have_text("Rating removed (it was 4.5 stars).")
    assert not Rating.objects.filter(user=user).exists()
    row.get_by_role("button", name="Undo").click()
    expect(row.locator("[data-rating-status]")).to_have_text("Saved: 4.5 stars.")
    assert Rating.objects.get(user=user).value == 4.5


def test_remove_and_undo_without_javascript(page_without_js, catalogue):
    page = page_without_js
    user = member(page, "rosa")
    rating_upsert(user_id=user.pk, movie_id=catalogue["Alien"].pk, value=2.5)
    page.goto("/me/ratings/")
    page.get_by_role("button", name="Remove").click()
    expect(page.locator(".message")).to_have_text("Removed your rating of Alien (1979).")
    page.get_by_role("button", name="Undo: rate it 2.5 again").click()
    expect(page.locator(".message")).to_have_text("You rated Alien (1979) 2.5 stars.")
    assert Rating.objects.get(user=user).value == 2.5


def test_small_things(device_page, catalogue):
    page = device_page
    movie = catalogue["Fargo"]
    # The sign-up link on a movie page keeps next.
    page.goto(f"/movies/{movie.pk}/")
    page.locator(".panel").get_by_role("link", name="sign up").click()
    page.get_by_label("Username").fill("svenssonfox")
    page.get_by_label("Email").fill("sven@example.com")
    # The similarity error shows under the password, not under the confirmation.
    page.get_by_label("Password", exact=True).fill("svenssonfox1")
    page.get_by_label("Password confirmation").fill("svenssonfox1")
    page.get_by_role("button", name="Sign up").click()
    error = page.get_by_text("The password is too similar to the username.")
    expect(error).to_be_visible()
    confirmation_top = page.get_by_label("Password confirmation").bounding_box()["y"]
    assert error.bounding_box()["y"] < confirmation_top
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(rf"/movies/{movie.pk}/$"))
    # "Not interested" is in the main navigation.
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Not interested").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Movies you’re not interested in")
    # The member home goes h1 -> h2 -> h3.
    page.goto("/")
    levels = page.locator("main h1, main h2, main h3").evaluate_all(
        "els => els.map(e => Number(e.tagName[1]))"
    )
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
    # A junk record does not lead "oldest".
    MovieFactory(title="unknown", year=None)
    page.goto("/movies/?sort=-year")
    expect(page.locator(".card__title").first).to_have_text("Casablanca")


def test_the_no_javascript_error_page_spaces_its_buttons(page_without_js, catalogue):
    page = page_without_js
    member(page, "tara")
    movie = catalogue["Heat"]
    page.goto(f"/movies/{movie.pk}/")
    page.locator("#rate").get_by_role("button", name="Save rating").click()  # no star chosen
    expect(page.get_by_role("heading", name="Nothing was changed")).to_be_visible()
    back = page.get_by_role("link", name="Back").bounding_box()
    other = page.get_by_role("link", name="Heat (1995)").bounding_box()
    gap = (
        other["x"] - (back["x"] + back["width"])
        if other["y"] == back["y"]
        else other["y"] - (back["y"] + back["height"])
    )
    assert gap >= 8


# --- 9. Staff ----------------------------------------------------------------------------------------------


def test_staff_training_runs_fit_and_read_at_1280(browser, live_server, catalogue):
    from recommendations.models import TrainingRun

    UserFactory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    for _ in range(3):
        TrainingRun.objects.create(
            status="succeeded", trigger="admin", phase="evaluating the candidate", holds_lock=None
        )
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/recommendations/trainingrun/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    label = page.get_by_text("even if nothing changed")
    colour = label.evaluate("el => getComputedStyle(el).color")
    behind = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert contrast(colour, behind) >= 4.5
    results = page.locator("#changelist .results")
    assert results.evaluate("el => el.scrollWidth <= el.clientWidth")  # nothing scrolled out of sight
    visible = results.bounding_box()
    for header in ("Created", "Took"):
        box = page.locator("#result_list th", has_text=header).bounding_box()
        assert box["x"] + box["width"] <= visible["x"] + visible["width"], header
    expect(page.locator("#result_list td.field-took").first).to_be_visible()
    shot(page, "r2-admin-runs")
    context.close()


# --- Accessibility: axe-core on every page type, both viewports ---------------------------------------------


def test_no_serious_accessibility_violations_on_any_page_type(device_page, catalogue, axe_source):
    page = device_page
    found: dict[str, list[str]] = {}

    def check(url, name):
        page.goto(url)
        found[name] = axe_violations(page, axe_source)

    movie = catalogue["Fargo"]
    check("/", "home (visitor)")
    check("/movies/", "browse")
    check("/movies/?q=godfater", "search")
    check("/movies/?q=qqqqxx&genre=Horror", "no results")
    check(f"/movies/{movie.pk}/", "movie (visitor)")
    check("/accounts/signup/", "sign up")
    check("/accounts/login/", "log in")
    check("/accounts/password/reset/", "password reset")
    check("/no-such-page/", "404")
    user = member(page, "uma")
    check("/welcome/", "onboarding")
    for title, value in [("Fargo", 4.5), ("Alien", 4.0), ("Heat", 3.0), ("Titanic", 2.0), ("Toy Story", 5.0)]:
        rating_upsert(user_id=user.pk, movie_id=catalogue[title].pk, value=value)
    watchlist_add(user_id=user.pk, movie_id=catalogue["Casablanca"].pk)
    check("/", "home (member)")
    check("/picks/", "picks")
    check(f"/movies/{movie.pk}/", "movie (member)")
    check("/me/ratings/", "my ratings")
    check("/me/ratings/about/", "about your ratings")
    check("/me/watchlist/", "watchlist")
    check("/me/hidden/", "not interested")
    check("/accounts/", "account")
    check("/accounts/password/change/", "password change")
    page.goto(f"/movies/{movie.pk}/")
    page.get_by_role("combobox", name="Search movies by title").fill("star")
    expect(page.get_by_role("listbox", name="Suggested movies")).to_be_visible()
    found["suggestions open"] = axe_violations(page, axe_source)
    assert {name: v for name, v in found.items() if v} == {}


# --- Pick cards show the model's predicted stars, the same as the movie page ---------------------------


@pytest.fixture
def world(settings, tmp_path, transactional_db):
    """The planted three-cluster world and settings for a model that trains in seconds."""
    settings.MODEL_DIR = tmp_path / "models"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRAIN_CONFIG": TINY_TRAIN_CONFIG,
        "TEST_HOLDOUT": 3,
    }
    return build_world()


def test_pick_cards_show_the_predicted_stars_of_the_movie_page(page, world):
    from recommendations.pipeline import retrain_execute
    from recommendations.registry import training_run_create

    user = UserFactory(username="vera", password=PASSWORD)
    for movie in world.movies["Comedy"][:6]:
        rating_upsert(user_id=user.pk, movie_id=movie.pk, value=4.5)
    for movie in world.movies["Drama"][:2]:
        rating_upsert(user_id=user.pk, movie_id=movie.pk, value=1.5)
    retrain_execute(run_id=training_run_create(trigger="cli").pk)
    log_in(page, "vera")
    page.goto("/picks/")
    cards = page.locator("[data-picks] [data-card]")
    expect(cards.first).to_be_visible()
    first_title = cards.first.locator(".card__title").inner_text()
    on_card = cards.first.locator("[data-predicted]").inner_text()
    assert re.fullmatch(r"For you: ★ \d\.\d predicted", on_card), on_card
    assert cards.locator("[data-predicted]").count() == cards.count()
    cards.first.locator(".card__title a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(first_title)
    on_page = page.locator(".predicted").inner_text()
    assert on_page.startswith(on_card.removeprefix("For you: ").removesuffix(" predicted"))
    # Browse and search cards carry them too, except on movies the member rated.
    page.goto("/movies/?genre=Comedy&sort=title")
    cards = page.locator("[data-card]")
    expect(cards).to_have_count(15)
    rated = {m.title for m in world.movies["Comedy"][:6]}
    for i in range(15):
        title = cards.nth(i).locator(".card__title").inner_text()
        expect(cards.nth(i).locator("[data-predicted]")).to_have_count(0 if title in rated else 1)
    page.goto("/movies/?q=comedy+14")
    first = page.locator("[data-card]").first
    expect(first.locator(".card__title")).to_have_text("Comedy 14")
    on_card = first.locator("[data-predicted]").inner_text()
    first.locator(".card__title a").click()
    assert (
        page.locator(".predicted")
        .inner_text()
        .startswith(on_card.removeprefix("For you: ").removesuffix(" predicted"))
    )
