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


def planted_community(catalogue, *, users: int = 60, seed: int = 0) -> None:
    """Dataset users with genre tastes rating the catalogue (written directly, so the catalogue's
    statistics stay as they are), enough for a tiny model to learn from."""
    import datetime as dt

    import numpy as np
    from django.utils import timezone

    from accounts.models import User
    from ratings.models import Rating

    rng = np.random.default_rng(seed)
    movies = list(catalogue.values())
    tastes = ["Action", "Drama", "Comedy", "Sci-Fi", "Crime", "Romance"]
    start = timezone.now() - dt.timedelta(days=200)
    rows = []
    for k in range(users):
        liked = tastes[k % len(tastes)]
        user = User.objects.create(
            username=f"movielens:{k}", dataset_source="movielens", dataset_user_id=str(k)
        )
        for step, i in enumerate(rng.choice(len(movies), size=14, replace=False)):
            movie = movies[int(i)]
            fits = liked in {g.name for g in movie.genres.all()}
            value = float(rng.choice([4.0, 4.5, 5.0] if fits else [1.5, 2.0, 2.5, 3.0]))
            at = start + dt.timedelta(days=int(rng.integers(0, 150)), minutes=step)
            rows.append(Rating(user=user, movie=movie, value=value, created_at=at, updated_at=at))
    Rating.objects.bulk_create(rows)


def test_readme_screenshots(browser, live_server, catalogue, settings, tmp_path):
    from recommendations.pipeline import retrain_execute
    from recommendations.registry import training_run_create
    from tests.recommendations.conftest import TINY_TRAIN_CONFIG

    settings.MODEL_DIR = tmp_path / "models"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRAIN_CONFIG": TINY_TRAIN_CONFIG,
        "TEST_HOLDOUT": 3,
    }
    planted_community(catalogue)
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
    retrain_execute(run_id=training_run_create(trigger="cli").pk)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/")
    save_small(page, "home")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Top picks for you")).to_be_visible()
    page.goto("/picks/")
    expect(page.locator("[data-predicted]").first).to_be_visible()
    save_small(page, "picks")
    page.goto(f"/movies/{catalogue['Fargo'].pk}/")
    save_small(page, "movie")
    page.goto("/movies/?q=godfater")
    save_small(page, "search")
    page.goto("/me/ratings/")
    save_small(page, "my-ratings")
    page.goto("/me/ratings/about/")
    save_small(page, "about-ratings")
    context.close()
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/welcome/")
    page.locator("[data-card]").nth(1).scroll_into_view_if_needed()
    save_small(page, "welcome-phone")
    phone.close()
