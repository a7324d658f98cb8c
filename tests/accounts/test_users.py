import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction

from accounts.models import User
from tests.factories import DatasetUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_people_can_log_in_and_are_not_dataset_users():
    person = UserFactory(username="ada")
    assert person.is_dataset_user is False
    assert authenticate(username="ada", password="correct horse battery staple") == person


def test_dataset_users_cannot_log_in():
    rater = DatasetUserFactory(dataset_user_id="196")
    assert rater.username == "movielens:196"
    assert rater.is_dataset_user is True
    assert rater.has_usable_password() is False
    assert authenticate(username="movielens:196", password="") is None


def test_dataset_ids_are_unique_per_source():
    DatasetUserFactory(dataset_source="movielens", dataset_user_id="7")
    DatasetUserFactory(dataset_source="amazon", dataset_user_id="7", username="amazon:7")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="other", dataset_source="movielens", dataset_user_id="7")


def test_source_and_id_come_in_pairs():
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="half", dataset_source="movielens", dataset_user_id="")


def test_demo_admin_prints_stable_credentials(tmp_path, settings, capsys):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("demo_admin")
    first = capsys.readouterr().out
    call_command("demo_admin")
    assert capsys.readouterr().out == first
    password = (tmp_path / "demo-admin-password").read_text().strip()
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.check_password(password)
    assert password in first
