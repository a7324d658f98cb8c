"""The active model in this process, numpy only (web processes never import TensorFlow)."""

from __future__ import annotations


def similar_movie_ids(*, movie_id: int, n: int) -> list[int]:
    return []


def predict_user_stars(*, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    return {}
