"""Suite-wide fixtures. The database is the real one named by DATABASE_URL (PostgreSQL in `make test`)."""

from collections.abc import Iterator

import pytest

from catalog.selectors import movie_cards_forget


@pytest.fixture(autouse=True)
def _fresh_movie_cards() -> Iterator[None]:
    """Movie cards are cached per process (`catalog.selectors.movie_cards`): every test starts without
    the cards an earlier test read."""
    movie_cards_forget()
    yield
    movie_cards_forget()
