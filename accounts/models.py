"""People and dataset users share one table; dataset users are marked and can never log in."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """A site member, or a rater imported from a dataset.

    Dataset users are real rows (their ratings train the model) with an unusable password and a
    ``dataset_source`` / ``dataset_user_id`` pair that makes re-imports find them again. Their
    usernames contain a colon (``movielens:196``), which the sign-up form never allows, so a person
    can never take a dataset user's name.
    """

    dataset_source = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Dataset this user was imported from; empty for people.",
    )
    dataset_user_id = models.CharField(max_length=64, blank=True, default="")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # accounts.rules: one account per name and per email address, whatever the case.
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="That username is taken.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="accounts_user_email_ci_unique",
                violation_error_message="That email address belongs to another account.",
            ),
            models.UniqueConstraint(
                fields=["dataset_source", "dataset_user_id"],
                condition=~Q(dataset_source=""),
                name="accounts_user_unique_dataset_id",
            ),
            models.CheckConstraint(
                condition=Q(dataset_source="", dataset_user_id="")
                | (~Q(dataset_source="") & ~Q(dataset_user_id="")),
                name="accounts_user_dataset_id_pairs",
            ),
        ]

    @property
    def is_dataset_user(self) -> bool:
        return bool(self.dataset_source)
