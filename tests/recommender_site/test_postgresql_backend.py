"""The health check of recommender_site.postgresql: a connection proven good by the request before, a
moment ago, is used without `SELECT 1`; an idle one, or one whose last request hit a database error,
is checked first, as Django does."""

import time

import pytest
from django.core.signals import request_finished, request_started
from django.db import ProgrammingError, connection

from catalog.models import Movie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """Every health check the connection makes (Django's is_usable, still run for real)."""
    connection.ensure_connection()
    assert connection.health_check_enabled  # CONN_HEALTH_CHECKS, as in production
    made: list[int] = []
    real = connection.is_usable

    def counted() -> bool:
        made.append(1)
        return real()

    monkeypatch.setattr(connection, "is_usable", counted)
    monkeypatch.setitem(connection.settings_dict, "HEALTH_CHECK_AFTER_IDLE_SECONDS", 0.3)
    time.sleep(0.35)  # whatever the test's set-up did with the connection is old news
    return made


def request(query=lambda: Movie.objects.count()) -> None:
    request_started.send(sender=None)
    try:
        query()
    finally:
        request_finished.send(sender=None)


def test_a_connection_proven_a_moment_ago_skips_the_check_and_an_idle_one_is_checked(checks):
    assert connection.vendor == "postgresql"
    request()
    assert len(checks) == 1  # nothing proven yet
    request()
    request()
    assert len(checks) == 1  # proven by the request before
    time.sleep(0.35)
    request()
    assert len(checks) == 2  # idle longer than the window


def test_a_request_with_a_database_error_gets_its_connection_checked(checks):
    request()
    request()
    assert len(checks) == 1

    def broken() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")

    with pytest.raises(ProgrammingError):
        request(broken)
    assert len(checks) == 2  # checked when that request ended (Django's own check after an error)
    request()
    assert len(checks) == 2  # ... which proved it good a moment ago


def test_zero_seconds_checks_every_request(checks, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "HEALTH_CHECK_AFTER_IDLE_SECONDS", 0)
    for _ in range(3):
        request()
    assert len(checks) == 3
