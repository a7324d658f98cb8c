"""What the ratings app announces. Higher apps (recommendations) listen; ratings never imports them."""

from django.dispatch import Signal

# Sent after the transaction that changed a user's ratings has committed.
# Keyword arguments: user_id (int), movie_ids (list[int]).
ratings_changed = Signal()
