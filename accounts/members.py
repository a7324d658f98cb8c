"""The member behind a request, for views that require login (site and API alike)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request


def member_id(request: HttpRequest | Request) -> int:
    """The logged-in member's id. Callers are behind login_required or DRF's IsAuthenticated, so there
    always is one; an anonymous request that got this far anyway is refused (403), never served."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionDenied("Log in first.")
    return int(user_id)
