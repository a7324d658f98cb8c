"""Sign up, the account page, email confirmation and a rate-limited password reset. Log in, log out and
password change are Django's own views (see urls.py): LoginView passes the request to authenticate(),
which django-axes needs."""

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from recommender_site.client_ip import client_ip

from .forms import SignUpForm
from .services import email_confirm, user_register


def _safe_next(request: HttpRequest) -> str:
    """Where to go after signing up (the page that sent the visitor here), if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = SignUpForm(request.POST or None)
    context = {"form": form, "next": next_url}
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                site_url=request.build_absolute_uri("/"),
            )
        except ValidationError as exc:  # the same name signed up a moment ago
            form.add_error(None, exc)
            return render(request, "accounts/signup.html", context)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            f"Welcome, {user.get_username()}! We sent a link to your email address to confirm it. "
            "Rate a few movies you know to get your picks.",
        )
        return redirect(next_url or "ratings:onboarding")
    return render(request, "accounts/signup.html", context)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")


def email_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = email_confirm(token=token)
    except ValidationError as exc:
        return render(request, "accounts/email_confirm_done.html", {"error": exc.messages[0]}, status=400)
    return render(request, "accounts/email_confirm_done.html", {"email": user.email})


def _over_limit(key: str, limit: int) -> bool:
    """Count one more event under ``key`` in a fixed window; True once past ``limit``."""
    window = settings.PASSWORD_RESET_LIMIT_WINDOW_SECONDS
    try:
        if cache.add(key, 1, window):
            return limit < 1
        return cache.incr(key) > limit
    except Exception:  # a dead cache must not block resets; the lockout and CSRF still stand
        return False


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset view, limited per client address (429 past the limit) and per email address
    (past it, nothing more is mailed, and the page says what it always says, revealing nothing)."""

    def form_valid(self, form):
        ip_key = "pwreset:ip:" + hashlib.sha256(client_ip(self.request).encode()).hexdigest()
        if _over_limit(ip_key, settings.PASSWORD_RESET_LIMIT_PER_CLIENT):
            return render(self.request, "accounts/password_reset_limited.html", status=429)
        email = form.cleaned_data["email"].strip().lower()
        email_key = "pwreset:email:" + hashlib.sha256(email.encode()).hexdigest()
        if _over_limit(email_key, settings.PASSWORD_RESET_LIMIT_PER_EMAIL):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
