"""Dataset importers: MovieLens and Amazon files into Movie, Genre, dataset users and Rating.

Parsing and validation live in ``ml.datasets`` (shared with the ML benchmark, no Django there);
this package resolves where the files come from (``sources``), and writes them in one transaction
(``writer``, ``movielens``, ``amazon``). The management commands are thin wrappers.
"""

from ml.datasets import DatasetError

from .amazon import amazon_import
from .movielens import movielens_import
from .sources import DatasetUnavailable, movielens_locate
from .writer import ImportConflict, ImportSummary

__all__ = [
    "DatasetError",
    "DatasetUnavailable",
    "ImportConflict",
    "ImportSummary",
    "amazon_import",
    "movielens_import",
    "movielens_locate",
]
