"""Forms of the accounts pages. Login, password change and reset use Django's own forms."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignUpForm(UserCreationForm):
    """A person signs up with a username, an email address (for password resets) and a password that
    passes AUTH_PASSWORD_VALIDATORS."""

    email = forms.EmailField(
        max_length=254,
        help_text="Only used to reset your password.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def validate_password_for_user(self, user: User, password_field_name: str = "password2") -> None:
        # Django checks the confirmation field, so "too similar to the username" showed under
        # "Password confirmation"; the password itself is what has to change.
        super().validate_password_for_user(user, password_field_name="password1")  # type: ignore[misc]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        # Dataset users are named "source:id"; Django's validator already forbids ':', say it plainly.
        if ":" in username:
            raise forms.ValidationError("Usernames cannot contain ':'.", code="invalid")
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken. Try another one.", code="unique")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email address already exists. Log in, or reset your password.",
                code="unique",
            )
        return email
