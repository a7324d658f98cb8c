"""`Authorization: Token <key>` with django-rest-knox: keys are stored as SHA-512 digests and expire."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> Any:
        # knox decodes the key as UTF-8 without a guard: a header with other bytes would be a 500.
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Only the presented token: an expired one is deleted and refused. knox's own also walks every
        other token of the member, one more query on every authenticated request; the member's other
        expired tokens are dropped when they next get a token (`accounts.services.token_create`) and
        can never authenticate meanwhile."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme: the same `tokenAuth` as DRF's own token authentication had."""

    target_class = "accounts.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
