"""Reading and validating the MovieLens and Amazon rating datasets, without Django.

The site's importers (``ingest``) and the ML benchmark (``python -m ml.bench --data PATH``)
both read dataset files through this module, so the two can never disagree about what a file means.

Everything here is pandas/numpy only. Ratings files (up to tens of millions of lines) are read with
pandas' C parser and validated with vectorised checks; only the first bad row found is turned into a
message, which names the file, the physical line (1 = first line of the file, header included) and
what is wrong. Movie files are small (at most ~90k lines) and are parsed line by line so their errors
are just as precise.


Modules, one per format: ``movielens`` (ml-100k, ml-1m, ml-latest, RecBole atomic files),
``amazon`` (Amazon reviews), and ``common`` (errors, sources, titles, ratings-table checks).
"""

from ml.datasets.amazon import AmazonData, amazon_filter, read_amazon
from ml.datasets.common import (
    MAX_ID,
    MAX_RATING,
    MIN_RATING,
    NOT_GENRES,
    DatasetError,
    StreamWrapper,
    title_normalise,
    title_year_parse,
)
from ml.datasets.movielens import (
    FORMATS,
    ML100K_GENRES,
    MovieLensData,
    detect_format,
    read_movielens,
    read_movielens_ratings,
)

__all__ = [
    "FORMATS",
    "MAX_ID",
    "MAX_RATING",
    "MIN_RATING",
    "ML100K_GENRES",
    "NOT_GENRES",
    "AmazonData",
    "DatasetError",
    "MovieLensData",
    "StreamWrapper",
    "amazon_filter",
    "detect_format",
    "read_amazon",
    "read_movielens",
    "read_movielens_ratings",
    "title_normalise",
    "title_year_parse",
]
