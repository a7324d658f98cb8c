"""Sign-up and token serializers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User
from accounts.rules import USERNAME_MAX_LENGTH, username_clean


class ApiUserOutputSerializer(serializers.ModelSerializer):
    email = serializers.CharField(
        read_only=True, help_text="Empty until the address is confirmed by the link mailed to it."
    )

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_staff"]
        read_only_fields = fields


class AuthTokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
    user = ApiUserOutputSerializer()


def _password_min_length() -> int:
    for validator in password_validation.get_default_password_validators():
        if isinstance(validator, password_validation.MinimumLengthValidator):
            return int(validator.min_length)
    return 1


def _validate_password(password: str, *, user: User, field: str) -> None:
    """The site's password rules (every AUTH_PASSWORD_VALIDATORS entry, judged against ``user``); each
    broken rule is an error on ``field`` with the validator's code."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            {
                field: [
                    serializers.ErrorDetail(str(m), code=e.code or "invalid")
                    for e in exc.error_list
                    for m in e
                ]
            }
        ) from None


class ApiTokenOutputSerializer(serializers.Serializer):
    key_prefix = serializers.CharField(
        help_text="The first characters of the token's key: enough to tell your tokens apart and to revoke "
        "one (`DELETE /api/v1/auth/tokens/{key_prefix}/`), never enough to use it."
    )
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True, help_text="The token stops working then.")
    current = serializers.BooleanField(help_text="This is the token the request was made with.")


class RegisterInputSerializer(serializers.Serializer):
    # accounts.rules: NFKC, letters, digits and @.+-_ only (never a dataset user's "source:id"), at most
    # 150 characters once normalised, unique whatever the case. The same rule as the site's sign-up.
    username = serializers.RegexField(
        r"^[\w.@+-]+$",
        max_length=USERNAME_MAX_LENGTH,
        help_text=(
            "Letters, digits and @ . + - _ only; compared in Unicode NFKC form and regardless of case "
            "(a fullwidth ADMIN is `ADMIN`, taken when `admin` exists)."
        ),
    )
    password = serializers.CharField(
        min_length=_password_min_length(),
        max_length=1024,
        error_messages={
            "min_length": f"This password is too short. It must contain at least {_password_min_length()} characters."
        },
        write_only=True,
        trim_whitespace=False,
        help_text=(
            f"At least {_password_min_length()} characters, not entirely numeric, not a common password "
            "and not too similar to the username or email (the site's password rules)."
        ),
    )
    email = serializers.EmailField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional. A link to confirm it is mailed to it; it is attached once confirmed.",
    )

    def validate_username(self, value: str) -> str:
        try:
            return username_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code=exc.code or "invalid") from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The site's sign-up rules: every AUTH_PASSWORD_VALIDATORS entry, judged against this user.
        candidate = User(username=attrs["username"], email=attrs.get("email", ""))
        _validate_password(attrs["password"], user=candidate, field="password")
        return attrs


class TokenInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, write_only=True, trim_whitespace=False)


class PasswordChangeInputSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=1024, write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(
        min_length=_password_min_length(),
        max_length=1024,
        write_only=True,
        trim_whitespace=False,
        error_messages={
            "min_length": f"This password is too short. It must contain at least {_password_min_length()} characters."
        },
        help_text="The site's password rules, as at sign-up.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["user"]
        if not user.check_password(attrs["old_password"]):
            raise serializers.ValidationError(
                {"old_password": [serializers.ErrorDetail("Your old password is not right.", code="invalid")]}
            )
        _validate_password(attrs["new_password"], user=user, field="new_password")
        return attrs
