"""Browse, search and filter forms: every field optional; a bad value is reported and left out."""

from typing import Any, TypedDict

from django import forms

from .selectors import ORDERINGS

SORT_CHOICES = [
    ("relevance", "Best match"),
    ("popularity", "Most popular"),
    ("rating", "Highest rated"),
    ("year", "Newest"),
    ("-year", "Oldest"),
    ("title", "Title A–Z"),
]
MAX_QUERY_LENGTH = 100


class MovieFilters(TypedDict):
    genre: str | None
    decade: int | None


class SearchFilters(MovieFilters):
    query: str
    ordering: str


class MovieFilterForm(forms.Form):
    """Genre and decade, offered from what the catalogue holds."""

    genre = forms.ChoiceField(label="Genre", required=False)
    decade = forms.TypedChoiceField(label="Decade", required=False, coerce=int, empty_value=None)

    def __init__(self, *args: object, genres: list[str], decades: list[int], **kwargs: object) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        genre, decade = self.fields["genre"], self.fields["decade"]
        assert isinstance(genre, forms.ChoiceField)
        assert isinstance(decade, forms.ChoiceField)
        genre.choices = [("", "All genres"), *((g, g) for g in genres)]
        decade.choices = [("", "Any decade"), *((str(d), f"{d}s") for d in decades)]
        genre.error_messages["invalid_choice"] = "There is no genre called “%(value)s”."
        decade.error_messages["invalid_choice"] = "“%(value)s” is not a decade we have movies from."

    def _valid_values(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        self.is_valid()  # cleaned_data keeps the valid fields; the template shows the others' errors
        return self.cleaned_data

    def filters(self) -> MovieFilters:
        """The valid values by selector argument name; an invalid field is left out (its error is shown).
        An unbound form gives the defaults."""
        cleaned = self._valid_values()
        return {"genre": cleaned.get("genre") or None, "decade": cleaned.get("decade")}


class MovieSearchForm(MovieFilterForm):
    """Title search (any words, partial, accents ignored), filters and an ordering."""

    q = forms.CharField(
        label="Title",
        required=False,
        max_length=MAX_QUERY_LENGTH,
        error_messages={"max_length": "Search text can be at most %(limit_value)d characters long."},
        widget=forms.SearchInput(attrs={"placeholder": "Search by title", "autocomplete": "off"}),
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[(key, label) for key, label in SORT_CHOICES if key in ORDERINGS],
        error_messages={"invalid_choice": "“%(value)s” is not a way to sort."},
    )
    field_order = ["q", "genre", "decade", "sort"]

    def filters(self) -> SearchFilters:
        base = super().filters()
        cleaned = self._valid_values()
        return {
            "genre": base["genre"],
            "decade": base["decade"],
            "query": cleaned.get("q") or "",
            "ordering": cleaned.get("sort") or "relevance",
        }
