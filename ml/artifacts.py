"""Versioned artifact directories: write once (atomically), load anywhere.

Layout of one artifact directory:
    metadata.json     format version, code version, created time, data fingerprint, config, metrics,
                      library versions, array names
    arrays.npz        everything numpy serving needs: id maps (user_ids, item_ids: sorted external
                      ids; dense index = position), ranking tower weights, user vectors, rating head

The arrays are the whole model: nothing reads Keras files, so none are written (the Keras tower
is rebuilt from the arrays by `ml.model` when a test wants to compare the two).
`load_scorer` imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ml import ARTIFACT_FORMAT_VERSION, __version__
from ml.failpoints import failpoint
from ml.history import HistoryWeighting
from ml.score import Scorer

if TYPE_CHECKING:  # pragma: no cover - typing only; importing ml.train would import TensorFlow
    from ml.train import TrainResult

METADATA = "metadata.json"
ARRAYS = "arrays.npz"
_LIBRARIES = ("numpy", "pandas", "keras", "tensorflow", "tensorflow-cpu", "scikit-learn")


def data_fingerprint(
    users: np.ndarray, items: np.ndarray, ratings: np.ndarray, timestamps: np.ndarray
) -> str:
    """sha256 of the ratings, independent of row order (the database may stream them in any order)."""
    u = np.asarray(users, np.int64)
    i = np.asarray(items, np.int64)
    r = np.asarray(ratings, np.float64)
    t = np.asarray(timestamps, np.float64)
    order = np.lexsort((r, t, i, u))
    digest = hashlib.sha256()
    digest.update(np.int64(len(u)).tobytes())
    for column in (u, i, r, t):
        digest.update(np.ascontiguousarray(column[order]).tobytes())
    return "sha256:" + digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_artifact(result: TrainResult, directory: str | os.PathLike[str]) -> Path:
    """Write `result` to a new directory; fails if it exists. Atomic: temp dir beside it, then rename.

    A reader therefore sees either no directory or a complete one, never a half-written artifact.
    """
    target = Path(directory)
    if target.exists():
        raise FileExistsError(f"artifact directory already exists: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{target.name}.", dir=target.parent))
    try:
        arrays = result.scorer.arrays
        np.savez(staging / ARRAYS, **cast(dict[str, Any], arrays))  # numpy types ** as allow_pickle
        failpoint("artifact-staged")  # fault-injection tests: die with the artifact half written
        meta = {
            "format_version": ARTIFACT_FORMAT_VERSION,
            "code_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_fingerprint": result.fingerprint,
            "config": result.config.to_dict(),
            "metrics": _jsonable(result.metrics),
            "history": _jsonable(result.history),
            "libraries": library_versions(),
            "n_users": len(arrays["user_ids"]),
            "n_items": len(arrays["item_ids"]),
            "arrays": sorted(arrays),
        }
        (staging / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


#: save_artifact writes into "<_STAGING><target name>.<random>" beside the target, then renames it.
_STAGING = ".partial-"


def unfinished_artifacts(parent: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """Half-written artifacts under ``parent`` (left by a process killed inside `save_artifact`), each
    with the name of the directory it was being written as. Nothing else in ``parent`` is listed."""
    return [
        (staging, staging.name[len(_STAGING) :].rsplit(".", 1)[0])
        for staging in Path(parent).glob(f"{_STAGING}*")
        if staging.is_dir()
    ]


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(directory) / METADATA).read_text())
    if meta.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise ValueError(
            f"artifact format {meta.get('format_version')} is not {ARTIFACT_FORMAT_VERSION}; retrain the model"
        )
    return meta


def load_scorer(directory: str | os.PathLike[str]) -> Scorer:
    """The numpy scorer of an artifact. Imports no TensorFlow (web processes call this)."""
    meta = read_metadata(directory)
    with np.load(Path(directory) / ARRAYS, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return Scorer(arrays, HistoryWeighting(**meta["config"]["history"]))
