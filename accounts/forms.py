"""Forms of the accounts pages. Login, password change and reset use Django's own forms."""

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UserCreationForm

from .models import User
from .rules import email_normalize, username_clean


class SignUpForm(UserCreationForm):
    """A person signs up with a username, an email address (for password resets) and a password that
    passes AUTH_PASSWORD_VALIDATORS."""

    email = forms.EmailField(
        max_length=254,
        help_text="Only used to reset your password. We send it a link to confirm it.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = (
            "username",
        )  # the email is not the model's yet: accounts.services attaches it once confirmed

    def validate_password_for_user(self, user: User, password_field_name: str = "password2") -> None:
        # Django checks the confirmation field, so "too similar to the username" showed under
        # "Password confirmation"; the password itself is what has to change.
        super().validate_password_for_user(user, password_field_name="password1")  # type: ignore[misc]

    def clean_username(self) -> str:
        return username_clean(self.cleaned_data["username"])  # accounts.rules: the one username rule

    def clean_email(self) -> str:
        # Whether the address already has an account is not said here (that would tell anyone who has
        # one); accounts.services mails the address instead.
        return email_normalize(self.cleaned_data["email"])


class StaffUserCreationForm(AdminUserCreationForm):
    def clean_username(self) -> str:
        return username_clean(self.cleaned_data["username"])


class StaffUserChangeForm(UserChangeForm):
    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if username == self.instance.username:  # unchanged (a dataset user's "source:id" included)
            return username
        return username_clean(username, exclude_pk=self.instance.pk)
