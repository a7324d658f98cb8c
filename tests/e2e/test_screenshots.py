"""README screenshots (docs/img/*.png), refreshed on demand: DOCS_SCREENSHOTS=1 pytest tests/e2e -k screenshots.

Kept out of normal runs so the suite never rewrites tracked files."""

import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ratings.services import rating_upsert
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("DOCS_SCREENSHOTS"), reason="set DOCS_SCREENSHOTS=1 to refresh docs/img"
    ),
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "Tulip-garden-4411"


def save_small(page, name: str) -> None:
    """A viewport-sized PNG, palette-quantised so the README stays light."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot(full_page=False)))
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").quantize(colors=128, dither=Image.Dither.NONE).save(
        DOCS_IMG / f"{name}.png", optimize=True
    )


def test_readme_screenshots(browser, live_server, catalogue):
    user = UserFactory(username="sam", password=PASSWORD)
    for title, value in [
        ("Star Wars", 5.0),
        ("Fargo", 4.5),
        ("Alien", 4.0),
        ("Toy Story", 3.5),
        ("Titanic", 2.5),
        ("The Godfather", 5.0),
    ]:
        rating_upsert(user_id=user.pk, movie_id=catalogue[title].pk, value=value)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 760})
    page = context.new_page()
    page.goto("/")
    save_small(page, "home")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Top picks for you")).to_be_visible()
    page.goto("/picks/")
    save_small(page, "picks")
    page.goto(f"/movies/{catalogue['Fargo'].pk}/")
    save_small(page, "movie")
    page.goto("/me/ratings/")
    save_small(page, "my-ratings")
    page.goto("/me/ratings/about/")
    save_small(page, "about-ratings")
    context.close()
