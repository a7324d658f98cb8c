"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live server.

Chromium comes from the distribution (`apt-get install chromium`); `playwright install` is never used.
Screenshots go to var/test-artifacts/e2e/ (gitignored).
"""

import os
import re
from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.factories import GenreFactory, MovieFactory

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "e2e"
# axe-core's browser build, installed by `make system-deps` (npm, under var/; never committed).
AXE_JS = Path(
    os.environ.get("AXE_CORE_PATH", ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js")
)
#: The viewports the issue tries the site at: a laptop and a phone.
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}

# Well-known movies with plausible statistics, so pages (and the README screenshots) look real.
CATALOGUE = [
    ("Star Wars", 1977, ["Action", "Adventure", "Sci-Fi"], 583, 4.36),
    ("Contact", 1997, ["Drama", "Sci-Fi"], 509, 3.80),
    ("Fargo", 1996, ["Crime", "Drama", "Thriller"], 508, 4.16),
    ("Return of the Jedi", 1983, ["Action", "Adventure", "Sci-Fi"], 507, 4.01),
    ("Liar Liar", 1997, ["Comedy"], 485, 3.16),
    ("The English Patient", 1996, ["Drama", "Romance"], 481, 3.66),
    ("Scream", 1996, ["Horror", "Thriller"], 478, 3.44),
    ("Toy Story", 1995, ["Animation", "Children", "Comedy"], 452, 3.88),
    ("Air Force One", 1997, ["Action", "Thriller"], 431, 3.63),
    ("Independence Day", 1996, ["Action", "Sci-Fi"], 429, 3.44),
    ("Raiders of the Lost Ark", 1981, ["Action", "Adventure"], 420, 4.25),
    ("The Godfather", 1972, ["Crime", "Drama"], 413, 4.28),
    ("Pulp Fiction", 1994, ["Crime", "Drama"], 394, 4.06),
    ("Twelve Monkeys", 1995, ["Drama", "Sci-Fi"], 392, 3.80),
    ("The Silence of the Lambs", 1991, ["Drama", "Thriller"], 390, 4.29),
    ("Jerry Maguire", 1996, ["Drama", "Romance"], 384, 3.71),
    ("Rock, The", 1996, ["Action", "Adventure", "Thriller"], 378, 3.69),
    ("Empire Strikes Back, The", 1980, ["Action", "Adventure", "Sci-Fi"], 367, 4.20),
    ("Titanic", 1997, ["Action", "Drama", "Romance"], 350, 4.25),
    ("Back to the Future", 1985, ["Comedy", "Sci-Fi"], 350, 3.83),
    ("Schindler's List", 1993, ["Drama", "War"], 298, 4.47),
    ("Casablanca", 1942, ["Drama", "Romance", "War"], 243, 4.46),
    ("Amélie", 2001, ["Comedy", "Romance"], 220, 4.10),
    ("Alien", 1979, ["Horror", "Sci-Fi"], 291, 4.03),
    ("The Shining", 1980, ["Horror"], 206, 3.97),
    ("Monty Python and the Holy Grail", 1975, ["Comedy"], 316, 4.07),
    ("Groundhog Day", 1993, ["Comedy", "Romance"], 280, 3.73),
    ("Aladdin", 1992, ["Animation", "Children", "Comedy"], 219, 3.81),
    ("Heat", 1995, ["Action", "Crime", "Thriller"], 140, 3.90),
    ("The Usual Suspects", 1995, ["Crime", "Thriller"], 267, 4.39),
    ("Obscure Gem", 1990, ["Drama"], 1, 5.0),
]


#: Every browser test member's password.
PASSWORD = "Tulip-garden-4411"


def log_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))


@pytest.fixture
def catalogue(transactional_db):
    cache.clear()
    genres: dict[str, object] = {}
    movies = {}
    for i, (title, year, names, count, mean) in enumerate(CATALOGUE):
        movie = MovieFactory(
            title=title,
            year=year,
            rating_count=count,
            rating_mean=mean,
            imdb_id=f"tt{1000000 + i}" if i % 3 == 0 else None,
            tmdb_id=10_000 + i if i % 3 == 0 else None,
        )
        movie.genres.set([genres.setdefault(n, GenreFactory(name=n)) for n in names])
        movies[title] = movie
    yield movies
    cache.clear()


@pytest.fixture
def eager_celery():
    """Run the after-commit refresh task in-process, so a rating refreshes the list at once.

    Only the Celery app's own configuration changes, and it is read before the change: Celery loads
    Django settings once, so changing CELERY_* settings here would leak eagerness into every later
    test of the session (the integration tests' real workers would then never see a task).
    """
    from recommender_site.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _context(browser, live_server, **options):
    options.setdefault("viewport", {"width": 1200, "height": 850})
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(10_000)
    return context


def is_csp_violation(message) -> bool:
    """Chromium reports every Content-Security-Policy violation as a console error naming the policy."""
    return message.type == "error" and "Content Security Policy" in message.text


@pytest.fixture
def page(browser, live_server):
    context = _context(browser, live_server)
    page = context.new_page()
    errors: list[str] = []
    violations: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console", lambda msg: violations.append(f"{page.url}: {msg.text}") if is_csp_violation(msg) else None
    )
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def page_without_js(browser, live_server):
    context = _context(browser, live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(params=sorted(VIEWPORTS))
def device_page(request, browser, live_server):
    """A page at each of the issue's viewports (desktop 1280x800, phone 390x844 with touch)."""
    context = _context(browser, live_server, **VIEWPORTS[request.param])
    page = context.new_page()
    page.device = request.param
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def axe_source():
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is missing at {AXE_JS}: run `make system-deps`")
    return AXE_JS.read_text()


def axe_violations(page, source: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.2 A/AA rules)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # through the DevTools protocol, so a Content-Security-Policy allows it
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' -> ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
        }"""
    )
    return list(result)
