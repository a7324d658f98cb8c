"""Title search terms and the typo-tolerant scoring used where PostgreSQL's pg_trgm is not available.

A query becomes a list of terms; each term is a list of spellings that count as the same word
("12" and "twelve"). Titles are scored per term (the best spelling, the best matching part of the
title) and the term scores are averaged, so a title that matches every word ranks above one that
matches some, and an exact word above a misspelt one.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np
from num2words import num2words
from rapidfuzz import fuzz, process

from .models import normalize_for_search

#: Words that say nothing about which movie is meant; dropped unless the query has nothing else.
STOP_WORDS = frozenset(
    {"the", "a", "an", "of", "and", "in", "on", "to", "la", "le", "les", "el", "der", "die"}
)
MAX_TERMS = 10
#: Spell out numbers up to this (titles say "Twelve Monkeys", "Ocean's Eleven", "2001").
MAX_SPELLED_NUMBER = 100


@cache
def _number_words() -> dict[str, str]:
    """ "twelve" -> "12" for the numbers that are one word when spelled out."""
    words: dict[str, str] = {}
    for n in range(MAX_SPELLED_NUMBER + 1):
        spelled = normalize_for_search(num2words(n))
        if " " not in spelled:
            words[spelled] = str(n)
    return words


def term_spellings(word: str) -> list[str]:
    """``word`` and the other way of writing it when it is a number: "12" -> ["12", "twelve"]."""
    spellings = [word]
    if word.isdigit() and int(word) <= MAX_SPELLED_NUMBER:
        spellings.append(normalize_for_search(num2words(int(word))))
    elif word in _number_words():
        spellings.append(_number_words()[word])
    return spellings


def search_terms(query: str) -> list[list[str]]:
    """The query's words (normalised, stop words dropped when others remain), each with its spellings."""
    words = normalize_for_search(query).split()[:MAX_TERMS]
    meaningful = [w for w in words if w not in STOP_WORDS] or words
    return [term_spellings(word) for word in dict.fromkeys(meaningful)]


def fuzzy_title_scores(
    terms: list[list[str]], titles: Iterable[tuple[int, str]], *, min_score: float, limit: int
) -> dict[int, float]:
    """Score normalised ``titles`` ((id, search_title) pairs) against ``terms``: for each term the
    best spelling's best partial match (1.0 = the word appears as it is), averaged over the terms.
    A title shorter than the word scores in proportion ("it" is not a match for "italian").
    Returns the ``limit`` best ids scoring at least ``min_score``, best first."""
    pairs = list(titles)
    if not terms or not pairs:
        return {}
    choices = [title for _, title in pairs]
    lengths = np.fromiter((len(t) for t in choices), dtype=np.float64, count=len(choices))
    total = np.zeros(len(choices))
    for spellings in terms:
        scores = process.cdist(spellings, choices, scorer=fuzz.partial_ratio, dtype=np.float64) / 100
        short = np.minimum(1.0, lengths[None, :] / np.array([len(s) for s in spellings], np.float64)[:, None])
        total += (scores * short).max(axis=0)
    total /= len(terms)
    best = np.argsort(-total, kind="stable")[:limit]
    return {pairs[int(i)][0]: round(float(total[i]), 4) for i in best if total[i] >= min_score}
