"""Sign-up and token log-in / log-out for API clients."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts.models import User
from accounts.services import token_create, tokens_revoke, user_password_change, user_register

from .serializers import (
    ApiTokenOutputSerializer,
    AuthTokenOutputSerializer,
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
    TokenInputSerializer,
)
from .throttles import TokenCreateThrottle


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"
    default_detail = "Too many failed log-in attempts for this account or address; try again later."

    def __init__(self) -> None:
        super().__init__()
        self.status_code = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
        self.wait = int(float(getattr(settings, "AXES_COOLOFF_TIME", 0) or 0) * 3600) or None


def _token_response(user: User, *, status_code: int) -> Response:
    key = token_create(user=user)  # shown once: only its digest is stored
    return Response(AuthTokenOutputSerializer({"token": key, "user": user}).data, status=status_code)


class RegisterView(APIView):
    permission_classes = [AllowAny]

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), TokenCreateThrottle()]

    @extend_schema(
        operation_id="auth_register",
        tags=["auth"],
        summary="Sign up and get a token",
        request=RegisterInputSerializer,
        responses={201: AuthTokenOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = user_register(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                site_url=request.build_absolute_uri("/"),
            )
        except DjangoValidationError:  # the same name signed up a moment ago
            raise exceptions.ValidationError(
                {"username": [exceptions.ErrorDetail("That username is taken.", code="username_taken")]}
            ) from None
        return _token_response(user, status_code=status.HTTP_201_CREATED)


class TokenView(APIView):
    # POST: log in (username + password -> token). DELETE: revoke the caller's token.

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        return [*throttles, TokenCreateThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        summary="Log in: exchange username and password for a token",
        request=TokenInputSerializer,
        responses={200: AuthTokenOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = TokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The request goes along so django-axes counts failures per account and per address.
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            raise LockedOut()
        if not isinstance(user, User) or user.is_dataset_user:
            raise exceptions.ValidationError(
                exceptions.ErrorDetail(
                    "Unable to log in with the username and password given.", code="invalid_credentials"
                )
            )
        # A token log-in is a log-in: updates last_login and lets axes reset this account's failures.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return _token_response(user, status_code=status.HTTP_200_OK)

    @extend_schema(
        operation_id="auth_token_delete",
        tags=["auth"],
        summary="Log out: revoke the token of this request",
        request=None,
        responses={
            204: OpenApiResponse(
                description="Token revoked (every client using it is logged out). With the site's "
                "session instead of a token, every token of the account is revoked."
            )
        },
    )
    def delete(self, request: Request) -> Response:
        user_id = cast(int, request.user.pk)
        if isinstance(request.auth, AuthToken):
            tokens_revoke(user_id=user_id, digest=request.auth.digest)
        else:
            tokens_revoke(user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyTokensView(APIView):
    """A member's own tokens: list them (never the keys), revoke them all."""

    @extend_schema(
        operation_id="auth_tokens_list",
        tags=["auth"],
        summary="Your tokens (one per log-in or sign-up), newest first",
        responses={200: ApiTokenOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        current = request.auth.digest if isinstance(request.auth, AuthToken) else None
        tokens = AuthToken.objects.filter(user_id=cast(int, request.user.pk)).order_by("-created")
        rows = [
            {
                "key_prefix": t.token_key,
                "created": t.created,
                "expiry": t.expiry,
                "current": t.digest == current,
            }
            for t in tokens
        ]
        return Response(ApiTokenOutputSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="auth_tokens_delete_all",
        tags=["auth"],
        summary="Log out everywhere: revoke all your tokens",
        request=None,
        responses={204: OpenApiResponse(description="Every token of yours revoked.")},
    )
    def delete(self, request: Request) -> Response:
        tokens_revoke(user_id=cast(int, request.user.pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyTokenView(APIView):
    @extend_schema(
        operation_id="auth_tokens_destroy",
        tags=["auth"],
        summary="Revoke one of your tokens, named by its key_prefix",
        request=None,
        responses={204: OpenApiResponse(description="Revoked (or there was no such token of yours).")},
    )
    def delete(self, request: Request, key_prefix: str) -> Response:
        tokens_revoke(user_id=cast(int, request.user.pk), token_key=key_prefix)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), TokenCreateThrottle()]

    @extend_schema(
        operation_id="auth_password_change",
        tags=["auth"],
        summary="Change your password: every token of yours is revoked, and a new one is returned",
        request=PasswordChangeInputSerializer,
        responses={200: AuthTokenOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        user = cast(User, request.user)
        serializer = PasswordChangeInputSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        user_password_change(user=user, password=serializer.validated_data["new_password"])
        return _token_response(user, status_code=status.HTTP_200_OK)
