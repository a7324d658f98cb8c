import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.artifacts import data_fingerprint, load_scorer, read_metadata, save_artifact
from ml.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def artifact(trained, tmp_path_factory):
    return save_artifact(trained.result, tmp_path_factory.mktemp("models") / "v1")


def test_artifact_has_model_arrays_id_maps_and_metadata(artifact, trained):
    assert sorted(p.name for p in artifact.iterdir()) == ["arrays.npz", "metadata.json"]
    assert [p.name for p in artifact.parent.iterdir()] == ["v1"]  # staging dir renamed away
    meta = read_metadata(artifact)
    assert meta["format_version"] == 1
    assert meta["data_fingerprint"] == trained.result.fingerprint
    assert TrainConfig.from_dict(meta["config"]) == trained.result.config
    assert {"numpy", "keras", "python"} <= set(meta["libraries"])
    assert meta["metrics"]["val_ndcg@10"] == pytest.approx(trained.result.metrics["val_ndcg@10"])
    assert meta["n_users"] == 240
    assert meta["n_items"] == 120


def test_loaded_scorer_gives_identical_results(artifact, trained):
    original, loaded = trained.result.scorer, load_scorer(artifact)
    users = original.users.ids
    a, b = original.recommend(users, 20), loaded.recommend(users, 20)
    assert (a.items == b.items).all()
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(
        original.predict_stars(users[3], [1, 2, 3]), loaded.predict_stars(users[3], [1, 2, 3])
    )


def test_save_refuses_to_overwrite(artifact, trained):
    with pytest.raises(FileExistsError):
        save_artifact(trained.result, artifact)


SERVE = """
import json, sys
import numpy as np
from ml.artifacts import load_scorer
s = load_scorer(sys.argv[1])
recs = s.recommend(s.users.ids[:5], 10)
f = s.fold_in([1, 2, 3], [5, 4, 1])
out = {
    "tf": any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules),
    "django": "django" in sys.modules,
    "items": recs.items.tolist(),
    "scores": recs.scores.tolist(),
    "similar": s.similar_items(1, 3)[0].tolist(),
    "folded": s.recommend_vectors([f], 5).items.tolist(),
}
print(json.dumps(out))
"""


def test_fresh_process_serves_without_tensorflow_and_gives_identical_scores(artifact, trained):
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(artifact)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout)
    assert out["tf"] is False
    assert out["django"] is False
    scorer = trained.result.scorer
    here = scorer.recommend(scorer.users.ids[:5], 10)
    assert out["items"] == here.items.tolist()
    np.testing.assert_array_equal(np.array(out["scores"], np.float32), here.scores)
    assert out["similar"] == scorer.similar_items(1, 3)[0].tolist()
    assert out["folded"] == scorer.recommend_vectors([scorer.fold_in([1, 2, 3], [5, 4, 1])], 5).items.tolist()


def test_importing_ml_imports_neither_django_nor_tensorflow():
    code = (
        "import sys, ml, ml.score, ml.artifacts, ml.evaluate, ml.baselines, ml.bench, ml.synthetic; "
        "print(sorted(m for m in ('django', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_ml_module_imports_django():
    offenders = []
    for path in (ROOT / "ml").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "django"]
    assert offenders == []


def test_data_fingerprint_ignores_row_order_and_sees_any_change():
    u, i, r, t = np.array([1, 2, 3]), np.array([4, 5, 6]), np.array([5.0, 3.0, 1.0]), np.array([7, 8, 9])
    base = data_fingerprint(u, i, r, t)
    order = np.array([2, 0, 1])
    assert data_fingerprint(u[order], i[order], r[order], t[order]) == base
    assert data_fingerprint(u, i, np.array([5.0, 3.5, 1.0]), t) != base


def test_config_round_trips_and_rejects_unknown_keys():
    config = TrainConfig(recency_floor_candidates=(0.0, 0.5), seed=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"embeding_dim": 3})


def test_only_half_written_artifacts_are_listed_as_unfinished(tmp_path):
    """Recovery removes what `unfinished_artifacts` lists: never a folder save_artifact did not make."""
    from ml.artifacts import unfinished_artifacts

    (tmp_path / ".partial-run-00007-20261204-210000.ab12cd34").mkdir()
    for other in (".snapshot", ".backup-v3", ".git", "run-00006-20261203-090000"):
        (tmp_path / other).mkdir()
    assert unfinished_artifacts(tmp_path) == [
        (tmp_path / ".partial-run-00007-20261204-210000.ab12cd34", "run-00007-20261204-210000")
    ]
