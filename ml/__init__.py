"""Pure-Python recommender core: arrays in, artifacts out.

Importing this package is cheap on purpose: it imports neither Django nor TensorFlow. The Keras
modules (`ml.model`, `ml.train`) import TensorFlow when they are imported themselves; the serving path
(`ml.artifacts.load_scorer`, `ml.score`) is numpy only, so web processes never pay for TensorFlow.
"""

__version__ = "1.5.0"

#: A rating at or above this is a "like": relevant in evaluation, a favourite that can explain a pick,
#: weighted as a like in a history. The Django side uses the same number (ratings.models.LIKED_RATING).
LIKE_THRESHOLD = 4.0

#: Bumped whenever the artifact layout or the meaning of an exported array changes.
ARTIFACT_FORMAT_VERSION = 1
