"""Sign-up and token serializers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User


class ApiUserOutputSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="Empty when none was given.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_staff"]
        read_only_fields = fields


class AuthTokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
    user = ApiUserOutputSerializer()


class RegisterInputSerializer(serializers.Serializer):
    # The model's own rules: letters, digits and @.+-_ only, so never a dataset user's "source:id".
    username = serializers.RegexField(
        r"^[\w.@+-]+$",
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    password = serializers.CharField(
        max_length=1024,
        write_only=True,
        trim_whitespace=False,
        help_text="Checked by the site's password rules: not too short, common, numeric or like your name.",
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("That username is taken.", code="username_taken")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The site's sign-up rules: every AUTH_PASSWORD_VALIDATORS entry, judged against this user.
        candidate = User(username=attrs["username"], email=attrs.get("email", ""))
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {
                    "password": [
                        serializers.ErrorDetail(str(m), code=e.code or "invalid")
                        for e in exc.error_list
                        for m in e
                    ]
                }
            ) from None
        return attrs


class TokenInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, write_only=True, trim_whitespace=False)
