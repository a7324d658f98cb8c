"""Dataset importers: MovieLens and Amazon files into Movie, Genre, dataset users and Rating.

This app sits above the apps it writes (accounts, catalog, ratings). Parsing and validation live in
``ml.datasets`` (shared with the ML benchmark, no Django there); ``sources`` resolves where the files
come from; ``writer`` holds the bulk writes; ``movielens`` and ``amazon`` each run one import in one
transaction. The management commands are thin wrappers.
"""
