"""Forms behind the no-JavaScript rating, hide and watchlist buttons (the JavaScript uses the API)."""

from django import forms
from django.core.exceptions import ValidationError

from .selectors import RATING_ORDERINGS
from .services import rating_value_clean


class RatingForm(forms.Form):
    value = forms.CharField(
        max_length=16,
        error_messages={
            "required": "Choose a rating from 0.5 to 5.0 stars before saving.",
            "max_length": "A rating must be a number from 0.5 to 5.0 in steps of 0.5.",
        },
    )

    def clean_value(self) -> float:
        # The same rule and message as the API: the service owns it.
        try:
            return rating_value_clean(self.cleaned_data["value"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages[0], code=exc.code) from None


class ToggleForm(forms.Form):
    """Hide / watchlist: ``on`` adds, ``off`` removes."""

    state = forms.ChoiceField(
        choices=[("on", "on"), ("off", "off")], error_messages={"invalid_choice": "Say “on” or “off”."}
    )


class RatingListForm(forms.Form):
    sort = forms.ChoiceField(
        required=False, choices=[(key, label) for key, (label, _) in RATING_ORDERINGS.items()]
    )
