"""Sign up and the account page. Log in, log out, password change and reset are Django's own views
(see urls.py): LoginView passes the request to authenticate(), which django-axes needs."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from .forms import SignUpForm
from .services import user_register


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
            )
        except ValidationError as exc:  # the same name signed up a moment ago
            form.add_error(None, exc)
            return render(request, "accounts/signup.html", context)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request, f"Welcome, {user.get_username()}! Rate a few movies you know to get your picks."
        )
        return redirect(next_url or "ratings:onboarding")
    return render(request, "accounts/signup.html", context)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")
