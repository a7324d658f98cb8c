"""Template helpers of the HTML site: movie cards, the half-star rating widget, small formats."""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from catalog.models import Movie
from ratings.models import HALF_STARS
from ratings.selectors import MovieMarks
from ratings.views import RATING_UNDO_KEY

register = template.Library()

NO_MARKS = MovieMarks(ratings={}, hidden=set(), watchlist=set())


@register.filter
def freshness(value: dt.datetime | None) -> str:
    """ "just now", "2 minutes ago", "3 days ago" (the largest unit only)."""
    if value is None:
        return "a while ago"
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def stars_text(value: float | None) -> str:
    """4.5 -> "4.5 stars", 1.0 -> "1 star"."""
    if value is None:
        return "not rated"
    number = f"{value:g}"
    return f"{number} star" if value == 1 else f"{number} stars"


@register.filter
def lookup(mapping: dict[int, float] | None, key: int) -> float | None:
    """``mapping[key]``, or None (a card's predicted stars from a {movie id: stars} dict)."""
    return mapping.get(key) if mapping else None


@register.filter
def poster_hue(movie_id: int) -> int:
    """A stable hue per movie for its placeholder poster (we have no images)."""
    return (int(movie_id) * 137) % 360


@register.filter
def initials(title: str) -> str:
    words = [w for w in title.replace("(", " ").split() if w[:1].isalnum()]
    skip = {"the", "a", "an", "of", "and"}
    picked = [w for w in words if w.lower() not in skip] or words
    return "".join(w[0] for w in picked[:2]).upper()


def _widget_values(current: float | None) -> list[dict[str, object]]:
    # Lowest first, so the arrow keys move the way the stars read (right = more); the CSS lights the
    # checked half star and every one before it with :has().
    return [
        {"value": f"{v:.1f}", "label": stars_text(v), "left": v % 1 == 0.5, "checked": v == current}
        for v in HALF_STARS
    ]


@register.inclusion_tag("includes/rating_widget.html", takes_context=True)
def rating_widget(
    context: template.Context,
    movie: Movie,
    current: float | None = None,
    prefix: str = "",
    drop: bool = False,
) -> dict[str, object]:
    request = context["request"]
    return {
        "movie": movie,
        "current": current,
        "values": _widget_values(current),
        "prefix": prefix,
        "drop": drop,
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path(),
    }


@register.inclusion_tag("includes/movie_card.html", takes_context=True)
def movie_card(
    context: template.Context,
    movie: Movie,
    marks: MovieMarks | None = None,
    reason: str = "",
    widget: bool = True,
    actions: bool = True,
    skip: bool = False,
    drop: bool = False,
    prefix: str = "",
    heading: str = "h3",
    predicted: float | None = None,
) -> dict[str, object]:
    """A movie as a card; for a member it carries the rating widget and the watchlist and "not
    interested" buttons (every list, so members rate in place), and optionally "Haven't seen it"."""
    marks = marks or NO_MARKS
    request = context["request"]
    user = context.get("user")
    return {
        "has_actions": bool(user and user.is_authenticated and (widget or actions or skip)),
        "movie": movie,
        "your_rating": marks.ratings.get(movie.pk),
        "hidden": movie.pk in marks.hidden,
        "on_watchlist": movie.pk in marks.watchlist,
        "reason": reason,
        "predicted": predicted,
        "widget": widget,
        "actions": actions,
        "skip": skip,
        "drop": drop,
        "prefix": prefix,
        "heading": heading,
        "request": request,
        "user": user,
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path(),
    }


@register.inclusion_tag("includes/toggles.html", takes_context=True)
def movie_toggles(
    context: template.Context, movie: Movie, hidden: bool, on_watchlist: bool, drop: bool = False
) -> dict[str, object]:
    return {
        "movie": movie,
        "hidden": hidden,
        "on_watchlist": on_watchlist,
        "drop": drop,
        "csrf_token": context.get("csrf_token"),
        "next": context["request"].get_full_path(),
    }


@register.inclusion_tag("includes/rating_undo.html", takes_context=True)
def rating_undo_form(context: template.Context) -> dict[str, object]:
    """An "Undo" button under the message of a rating just removed (the no-JavaScript path)."""
    request = context["request"]
    undo = request.session.pop(RATING_UNDO_KEY, None) if hasattr(request, "session") else None
    valid = (
        isinstance(undo, dict) and isinstance(undo.get("movie_id"), int) and undo.get("value") in HALF_STARS
    )
    return {
        "undo": undo if valid else None,
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path(),
    }
