"""The ML worker dies (SIGKILL: a crash, the OOM killer) mid-artifact-write and mid-refresh, and the
model directory fills up mid-retrain: no half-written model is ever active, served lists stay
complete and consistent, and the next run succeeds.

Killed mid-training is tests/integration/test_worker_pipeline.py
(test_killing_the_training_process_leaves_the_served_model_alone); an unwritable MODEL_DIR is
tests/recommendations/test_pipeline.py (test_unwritable_model_dir_fails_and_keeps_the_active_model).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recommendations.fields import unpack_ids, unpack_scores

from .support import Client, rows, wait_for

pytestmark = pytest.mark.integration


def _served_state(url: str) -> list[tuple[Any, ...]]:
    """What serving reads: the active version and every list of it, exactly."""
    return rows(
        url,
        "SELECT v.id, v.artifact_path, l.user_id, l.movie_ids, l.scores, l.generated_at "
        "FROM recommendations_modelversion v JOIN recommendations_recommendationlist l ON l.model_version_id = v.id "
        "WHERE v.is_active ORDER BY l.user_id",
    )


def _run(url: str, run_id: int) -> dict[str, Any]:
    status, phase, error, log, holds_lock = rows(
        url,
        "SELECT status, phase, error, log, holds_lock FROM recommendations_trainingrun WHERE id = %s",
        (run_id,),
    )[0]
    return {"status": status, "phase": phase, "error": error, "log": log, "holds_lock": holds_lock}


def _request_retrain(stack) -> int:
    return stack.script(
        """
from recommendations.registry import training_run_request
result = training_run_request(trigger="api", force=True).pk
"""
    )


def _kill_pool(worker) -> None:
    """SIGKILL the worker's pool process (the one running the task); the main process survives and, with
    acks_late + reject_on_worker_lost, puts the task back on the queue."""
    children = worker.children()
    assert children, "the worker has no pool process"
    for pid in children:
        os.kill(pid, signal.SIGKILL)


def _reader(stack, base: str) -> Client:
    user_id = stack.template["users"]["Action"][0]
    token = stack.script(
        f"from knox.models import AuthToken\nfrom accounts.models import User\n"
        f"result = AuthToken.objects.create(User.objects.get(pk={user_id}))[1]"
    )
    return Client(base, token=token)


def _assert_served_from(client: Client, version_id: int) -> None:
    response = client.request("GET", "/api/v1/me/recommendations/?n=5")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["model_version_id"], len(body["items"])) == ("model", version_id, 5), body


def _armed(stack, point: str) -> tuple[dict[str, str], Path]:
    """Worker environment arming one fail point (ml/failpoints.py), and the file that says it was reached."""
    marks = stack.dir / "failpoints"
    marks.mkdir(exist_ok=True)
    return {
        "RECOMMENDER_FAILPOINTS": f"{point}=pause",
        "RECOMMENDER_FAILPOINTS_DIR": str(marks),
    }, marks / point


def test_killed_while_writing_the_artifact_no_half_written_model_serves_and_the_rerun_succeeds(stack):
    base = stack.web(workers=1, threads=4)
    reader = _reader(stack, base)
    before = _served_state(stack.database_url)
    active = before[0][0]
    # The pool process pauses with the arrays written and the models and metadata not yet: the kill
    # lands mid-write every time. The redelivered task passes the fail point (it fires once).
    env, reached = _armed(stack, "artifact-staged")
    worker = stack.worker("ml", "training", **env)
    run_id = _request_retrain(stack)
    wait_for(reached.exists, timeout=240, what="the artifact to be half written")
    staging = [p for p in stack.model_dir.iterdir() if p.name.startswith(".partial-run-")]
    _kill_pool(worker)

    # Caught mid-write: the staging directory holds the arrays only, no complete artifact of this run is.
    assert len(staging) == 1
    assert sorted(p.name for p in staging[0].iterdir()) == ["arrays.npz"]
    assert not list(stack.model_dir.glob(f"run-{run_id:05d}-*"))
    assert _served_state(stack.database_url) == before
    assert rows(stack.database_url, "SELECT count(*) FROM recommendations_modelversion")[0][0] == 1
    _assert_served_from(reader, active)

    # The task comes back and the same run completes; the half-written staging directory is gone.
    wait_for(lambda: _run(stack.database_url, run_id)["holds_lock"] is None, timeout=300, what="the rerun")
    run = _run(stack.database_url, run_id)
    assert run["status"] == "succeeded", run
    assert "restarted" in run["log"]
    (new_version, artifact), = rows(stack.database_url, "SELECT id, artifact_path FROM recommendations_modelversion WHERE is_active")  # fmt: skip
    assert new_version != active
    assert json.loads((Path(artifact) / "metadata.json").read_text())["format_version"]
    assert [p.name for p in stack.model_dir.iterdir() if p.name.startswith(".")] == []
    _assert_served_from(reader, new_version)


def test_killed_while_writing_the_new_versions_lists_the_old_version_keeps_serving(stack):
    base = stack.web(workers=1, threads=4)
    reader = _reader(stack, base)
    before = _served_state(stack.database_url)
    active = before[0][0]
    # One user per chunk, and a pause after the first chunk: killed with exactly one list of the new
    # version written.
    env, reached = _armed(stack, "lists-partly-written")
    worker = stack.worker("ml", "training", RECOMMENDATIONS_REFRESH_CHUNK_USERS="1", **env)
    run_id = _request_retrain(stack)
    wait_for(reached.exists, timeout=240, what="the first lists of the new version")
    written = rows(
        stack.database_url,
        "SELECT count(*) FROM recommendations_recommendationlist l JOIN recommendations_modelversion v "
        "ON v.id = l.model_version_id WHERE v.training_run_id = %s",
        (run_id,),
    )[0][0]
    _kill_pool(worker)

    assert written == 1
    assert _served_state(stack.database_url) == before
    _assert_served_from(reader, active)
    wait_for(lambda: _run(stack.database_url, run_id)["holds_lock"] is None, timeout=300, what="the rerun")
    run = _run(stack.database_url, run_id)
    assert run["status"] == "succeeded", run
    assert "discarded model" in run["log"]
    (new_version,), = rows(stack.database_url, "SELECT id FROM recommendations_modelversion WHERE is_active")  # fmt: skip
    after = _served_state(stack.database_url)
    assert len(after) == 60
    assert {row[0] for row in after} == {new_version}
    assert all(len(unpack_ids(row[3])) == len(unpack_scores(row[4])) > 0 for row in after)
    _assert_served_from(reader, new_version)


def test_killed_mid_refresh_all_every_served_list_stays_whole_and_the_redelivery_finishes(stack):
    base = stack.web(workers=1, threads=4)
    reader = _reader(stack, base)
    (active,), = rows(stack.database_url, "SELECT id FROM recommendations_modelversion WHERE is_active")  # fmt: skip
    started = rows(stack.database_url, "SELECT now()")[0][0]
    # One user per chunk and a pause after the first chunk: the kill lands mid-refresh every time (a
    # poll for "some lists rewritten" missed the whole ~60 ms window on a loaded machine).
    env, reached = _armed(stack, "lists-partly-written")
    worker = stack.worker("refresh", "default", RECOMMENDATIONS_REFRESH_CHUNK_USERS="1", **env)
    stack.script(
        f"""
from recommendations.tasks import refresh_all
result = refresh_all.apply_async(kwargs={{"version_id": {active}}}).id
"""
    )

    def rewritten() -> int:
        return rows(
            stack.database_url,
            "SELECT count(*) FROM recommendations_recommendationlist WHERE model_version_id = %s AND generated_at > %s",
            (active, started),
        )[0][0]

    wait_for(reached.exists, timeout=120, what="the refresh to be under way")
    _kill_pool(worker)
    assert rewritten() == 1

    # Half old lists, half new ones, every one of them whole: one row per user, scores beside every movie.
    state = _served_state(stack.database_url)
    assert len(state) == 60
    assert all(len(unpack_ids(row[3])) == len(unpack_scores(row[4])) > 0 for row in state)
    _assert_served_from(reader, active)
    wait_for(lambda: rewritten() == 60, timeout=120, what="the redelivered refresh to rewrite every list")
    assert "refresh_all" in worker.output()


def _tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs permission to mount")


def test_a_full_model_disk_fails_the_retrain_clearly_changes_nothing_served_and_the_next_run_succeeds(stack):
    full = stack.dir / "full-models"
    _tmpfs(full, "32m")
    try:
        filler = full / "filler"
        with filler.open("wb") as out:  # fill it up, as another tenant of the volume might
            try:
                while True:
                    out.write(b"\0" * (1 << 20))
                    out.flush()
            except OSError:
                pass
        before = _served_state(stack.database_url)
        worker = stack.worker("ml", "training", MODEL_DIR=str(full))
        run_id = _request_retrain(stack)
        wait_for(
            lambda: _run(stack.database_url, run_id)["holds_lock"] is None, timeout=300, what="the run to end"
        )
        run = _run(stack.database_url, run_id)
        assert run["status"] == "failed", run
        assert "No space left on device" in run["error"], run["error"]
        assert _served_state(stack.database_url) == before
        assert rows(stack.database_url, "SELECT count(*) FROM recommendations_modelversion")[0][0] == 1
        assert sorted(p.name for p in full.iterdir()) == ["filler"]  # nothing half-written left behind

        filler.unlink()  # space again: the next run succeeds
        run_id = _request_retrain(stack)
        wait_for(
            lambda: _run(stack.database_url, run_id)["holds_lock"] is None, timeout=300, what="the next run"
        )
        assert _run(stack.database_url, run_id)["status"] == "succeeded", worker.output()[-2000:]
        (artifact,), = rows(stack.database_url, "SELECT artifact_path FROM recommendations_modelversion WHERE is_active")  # fmt: skip
        assert Path(artifact).parent == full
    finally:
        stack.close()  # the worker holds files on the tmpfs
        subprocess.run(["umount", "-l", str(full)], capture_output=True)
