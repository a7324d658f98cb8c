"""Helpers of the API tests."""

from __future__ import annotations

import json
from typing import Any

from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def error_of(response: Any) -> dict[str, Any]:
    """The API's error object, after checking the one shape every error has."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]
