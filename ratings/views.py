"""Rating, hiding and watchlisting from HTML forms (the no-JavaScript path), and the member's own pages:
onboarding, my ratings (+ CSV), about my ratings, watchlist, hidden movies."""

import csv
from collections.abc import Callable, Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.members import member_id
from catalog.models import Movie
from catalog.selectors import movie_onboarding_candidates

from .forms import RatingForm, RatingListForm, ToggleForm
from .models import ONBOARDING_GOAL
from .selectors import (
    RATING_ORDERINGS,
    hidden_for_user,
    rating_count_for_user,
    rating_distribution,
    rating_genre_tastes,
    rating_list_for_user,
    skipped_count_for_user,
    user_movie_marks,
    user_not_to_ask_movie_ids,
    user_ratings_by_movie,
    watchlist_for_user,
)
from .services import (
    hidden_add,
    hidden_remove,
    rating_delete,
    rating_upsert,
    skip_add,
    skips_clear,
    watchlist_add,
    watchlist_remove,
)

#: Where the no-JavaScript "Undo" of a removed rating waits for the next page (site_tags reads it).
RATING_UNDO_KEY = "rating_undo"
RATINGS_PAGE_SIZE = 50


def _next_url(request: HttpRequest, movie_id: int) -> str:
    """Where to go back to after a form action: the page it came from, if it is ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("movie_detail", args=[movie_id])


def _refused(request: HttpRequest, movie: Movie, message: str) -> HttpResponse:
    """Nothing changed: say why, with a way back (HTTP 400)."""
    context = {"movie": movie, "message": message, "back": _next_url(request, movie.pk)}
    return render(request, "ratings/action_error.html", context, status=400)


def _done(request: HttpRequest, movie_id: int, message: str) -> HttpResponseRedirect:
    messages.success(request, message)
    return redirect(_next_url(request, movie_id))


@login_required
@require_POST
def rating_set(request: HttpRequest, movie_id: int) -> HttpResponse:
    movie = get_object_or_404(Movie, pk=movie_id)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _refused(request, movie, str(form.errors["value"][0]))
    try:
        rating_upsert(user_id=member_id(request), movie_id=movie.pk, value=form.cleaned_data["value"])
    except ValidationError as exc:
        return _refused(request, movie, exc.messages[0])
    return _done(request, movie.pk, f"You rated {movie} {form.cleaned_data['value']:g} stars.")


@login_required
@require_POST
def rating_remove(request: HttpRequest, movie_id: int) -> HttpResponse:
    movie = get_object_or_404(Movie, pk=movie_id)
    before = user_ratings_by_movie(user_id=member_id(request), movie_ids=[movie.pk]).get(movie.pk)
    removed = rating_delete(user_id=member_id(request), movie_id=movie.pk)
    if removed and before is not None:
        request.session[RATING_UNDO_KEY] = {"movie_id": movie.pk, "value": before}
    text = f"Removed your rating of {movie}." if removed else f"You had not rated {movie}."
    return _done(request, movie.pk, text)


def _toggle(
    request: HttpRequest,
    movie_id: int,
    *,
    add: Callable[..., bool],
    remove: Callable[..., bool],
    on_text: str,
    off_text: str,
) -> HttpResponse:
    """One on/off mark of a movie (hidden, watchlist): validate, call the service, say what happened."""
    movie = get_object_or_404(Movie, pk=movie_id)
    form = ToggleForm(request.POST)
    if not form.is_valid():
        return _refused(request, movie, str(form.errors["state"][0]))
    on = form.cleaned_data["state"] == "on"
    (add if on else remove)(user_id=member_id(request), movie_id=movie.pk)
    return _done(request, movie.pk, (on_text if on else off_text).format(movie=movie))


@login_required
@require_POST
def hide_toggle(request: HttpRequest, movie_id: int) -> HttpResponse:
    return _toggle(
        request, movie_id, add=hidden_add, remove=hidden_remove,
        on_text="{movie} won’t be recommended to you again.",
        off_text="{movie} can be recommended to you again.",
    )  # fmt: skip


@login_required
@require_POST
def watchlist_toggle(request: HttpRequest, movie_id: int) -> HttpResponse:
    return _toggle(
        request, movie_id, add=watchlist_add, remove=watchlist_remove,
        on_text="Added {movie} to your watchlist.",
        off_text="Removed {movie} from your watchlist.",
    )  # fmt: skip


# --- Onboarding -------------------------------------------------------------------------------------


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    user_id = member_id(request)
    count = rating_count_for_user(user_id=user_id)
    movies = movie_onboarding_candidates(exclude_ids=user_not_to_ask_movie_ids(user_id=user_id), limit=12)
    context = {
        "movies": movies,
        "count": count,
        "goal": ONBOARDING_GOAL,
        "remaining": max(ONBOARDING_GOAL - count, 0),
        "skipped": skipped_count_for_user(user_id=user_id),
    }
    return render(request, "ratings/onboarding.html", context)


@login_required
@require_POST
def onboarding_skip(request: HttpRequest, movie_id: int) -> HttpResponse:
    """ "Haven't seen it": never offer the movie to this member for rating again (until they ask)."""
    try:
        skip_add(user_id=member_id(request), movie_id=movie_id)
    except ValidationError:
        raise Http404("No such movie.") from None
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("ratings:onboarding")


@login_required
@require_POST
def onboarding_skips_clear(request: HttpRequest) -> HttpResponse:
    """Offer the movies this member skipped again."""
    cleared = skips_clear(user_id=member_id(request))
    messages.success(request, f"{cleared} skipped movie{'s' if cleared != 1 else ''} can be offered again.")
    return redirect("ratings:onboarding")


# --- The member's own pages -------------------------------------------------------------------------


@login_required
def my_ratings(request: HttpRequest) -> HttpResponse:
    form = RatingListForm(request.GET)
    sort = form.cleaned_data["sort"] if form.is_valid() and form.cleaned_data["sort"] else "recent"
    page = Paginator(
        rating_list_for_user(user_id=member_id(request), ordering=sort), RATINGS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    sorts = [(key, label) for key, (label, _) in RATING_ORDERINGS.items()]
    context = {"page": page, "form": form, "sort": sort, "sorts": sorts}
    return render(request, "ratings/my_ratings.html", context)


#: What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list): = + - @, and a
#: leading TAB or carriage return, which some spreadsheets skip before looking for the others.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    # A title that starts like a formula would run as one in a spreadsheet; quote it.
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def my_ratings_csv(request: HttpRequest) -> StreamingHttpResponse:
    ratings = rating_list_for_user(user_id=member_id(request), ordering="title")
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["movie_id", "title", "year", "rating", "rated_at", "imdb_id", "tmdb_id"])
        for r in ratings.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    r.movie_id,
                    _csv_cell(r.movie.title),
                    r.movie.year or "",
                    f"{r.value:.1f}",
                    r.updated_at.isoformat(),
                    r.movie.imdb_id or "",
                    r.movie.tmdb_id or "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="my-ratings.csv"'
    return response


@login_required
def ratings_about(request: HttpRequest) -> HttpResponse:
    buckets = rating_distribution(user_id=member_id(request))
    total = sum(b.count for b in buckets)
    mean = sum(b.value * b.count for b in buckets) / total if total else None
    peak = max((b.count for b in buckets), default=0)
    tastes = rating_genre_tastes(user_id=member_id(request), limit=8)
    top_count = max((t.count for t in tastes), default=0)
    context = {
        "buckets": buckets,
        "total": total,
        "mean": mean,
        "peak": peak,
        "tastes": tastes,
        "top": top_count,
    }
    return render(request, "ratings/about.html", context)


@login_required
def watchlist(request: HttpRequest) -> HttpResponse:
    entries = list(watchlist_for_user(user_id=member_id(request))[:200])
    movies = [e.movie for e in entries]
    marks = user_movie_marks(user_id=member_id(request), movie_ids=[m.pk for m in movies])
    return render(request, "ratings/watchlist.html", {"movies": movies, "marks": marks})


@login_required
def hidden_list(request: HttpRequest) -> HttpResponse:
    entries = list(hidden_for_user(user_id=member_id(request))[:500])
    movies = [e.movie for e in entries]
    marks = user_movie_marks(user_id=member_id(request), movie_ids=[m.pk for m in movies])
    return render(request, "ratings/hidden.html", {"movies": movies, "marks": marks})
