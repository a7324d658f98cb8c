"""Staff endpoints: training runs (list, detail, queue a retrain: 202 / 409 / 503) and model versions
(list, detail, activate to promote or roll back)."""

import pytest
from kombu.exceptions import OperationalError

from recommendations import tasks
from recommendations.models import ModelVersion, TrainingRun
from recommendations.registry import model_version_activate, training_run_finish

from .support import error_of

pytestmark = pytest.mark.django_db

RUNS, MODELS = "/api/v1/training-runs/", "/api/v1/models/"


class FakeResult:
    id = "task-1"


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, dict]]:
    """The broker is the edge of the world here: record what would be sent to it."""
    sent: list[tuple[str, dict]] = []

    def recorder(name):
        def apply_async(*, kwargs, **options):
            sent.append((name, kwargs))
            return FakeResult()

        return apply_async

    monkeypatch.setattr(tasks.retrain, "apply_async", recorder("retrain"))
    monkeypatch.setattr(tasks.refresh_all, "apply_async", recorder("refresh_all"))
    return sent


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", RUNS),
        ("post", RUNS),
        ("get", f"{RUNS}1/"),
        ("get", MODELS),
        ("get", f"{MODELS}1/"),
        ("post", f"{MODELS}1/activate/"),
    ],
)
def test_staff_endpoints_refuse_anonymous_401_and_members_403(anon, member_client, method, path):
    anonymous = getattr(anon, method)(path, {})
    assert anonymous.status_code == 401
    assert error_of(anonymous)["code"] == "not_authenticated"
    member = getattr(member_client, method)(path, {})
    assert member.status_code == 403
    assert error_of(member)["code"] == "permission_denied"


def test_post_queues_a_retrain_and_answers_202_with_its_url(staff_client, staff, queued):
    response = staff_client.post(RUNS, {"force": True})
    assert response.status_code == 202
    body = response.json()
    run = TrainingRun.objects.get()
    assert (body["id"], body["status"], body["trigger"], body["triggered_by"], body["force"]) == (
        run.pk,
        "queued",
        "api",
        staff.username,
        True,
    )
    assert body["url"] == f"http://testserver{RUNS}{run.pk}/"
    assert response["Location"] == body["url"]
    assert queued == [("retrain", {"run_id": run.pk})]
    assert run.task_id == "task-1"
    detail = staff_client.get(body["url"])
    assert detail.status_code == 200
    assert detail.json()["id"] == run.pk
    assert "log" in detail.json()


def test_a_second_retrain_while_one_runs_is_a_409(staff_client, queued):
    assert staff_client.post(RUNS, {}).status_code == 202
    response = staff_client.post(RUNS, {})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "retrain_running"
    assert f"#{TrainingRun.objects.get().pk}" in error["message"]
    training_run_finish(run=TrainingRun.objects.get(), status=TrainingRun.Status.SUCCEEDED)
    assert staff_client.post(RUNS, {}).status_code == 202


def test_an_unreachable_queue_is_a_503_and_releases_the_lock(staff_client, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("Error 111 connecting to redis. Connection refused.")

    monkeypatch.setattr(tasks.retrain, "apply_async", unreachable)
    response = staff_client.post(RUNS, {})
    assert response.status_code == 503
    assert error_of(response)["code"] == "queue_unavailable"
    run = TrainingRun.objects.get()
    assert (run.status, run.holds_lock) == ("failed", None)


def test_post_validates_its_body(staff_client, queued):
    response = staff_client.post(RUNS, {"force": "perhaps"})
    assert response.status_code == 400
    assert "force" in error_of(response)["fields"]
    assert not TrainingRun.objects.exists()


def test_runs_list_newest_first(staff_client):
    old = TrainingRun.objects.create(trigger="schedule", status="failed", holds_lock=None, error="boom")
    new = TrainingRun.objects.create(trigger="admin")
    body = staff_client.get(RUNS).json()
    assert [r["id"] for r in body["results"]] == [new.pk, old.pk]
    assert body["results"][1]["error"] == "boom"
    assert staff_client.get(f"{RUNS}{old.pk + new.pk}/").status_code == 404


def test_models_list_and_detail(staff_client):
    old = ModelVersion.objects.create(artifact_path="/m/1", data_fingerprint="a", metrics={"ndcg@10": 0.1})
    new = ModelVersion.objects.create(artifact_path="/m/2", data_fingerprint="b")
    body = staff_client.get(MODELS).json()
    assert [m["id"] for m in body["results"]] == [new.pk, old.pk]
    detail = staff_client.get(f"{MODELS}{old.pk}/").json()
    assert detail["metrics"] == {"ndcg@10": 0.1}
    assert detail["is_active"] is False
    assert "artifact_path" not in detail  # a server path is nobody's business


def test_activate_promotes_then_rolls_back(staff_client, queued):
    v1 = ModelVersion.objects.create(artifact_path="/m/1", data_fingerprint="a")
    v2 = ModelVersion.objects.create(artifact_path="/m/2", data_fingerprint="b")
    model_version_activate(version_id=v1.pk)
    response = staff_client.post(f"{MODELS}{v2.pk}/activate/")
    assert response.status_code == 200
    body = response.json()
    assert (body["model"]["id"], body["model"]["is_active"], body["changed"], body["refresh_queued"]) == (
        v2.pk,
        True,
        True,
        True,
    )
    assert list(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == [v2.pk]
    assert queued == [("refresh_all", {"version_id": v2.pk})]
    again = staff_client.post(f"{MODELS}{v2.pk}/activate/").json()
    assert (again["changed"], again["refresh_queued"]) == (False, False)
    back = staff_client.post(f"{MODELS}{v1.pk}/activate/").json()
    assert (back["model"]["id"], back["changed"]) == (v1.pk, True)
    assert list(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == [v1.pk]


def test_activation_stands_when_the_refresh_cannot_be_queued(staff_client, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.refresh_all, "apply_async", unreachable)
    version = ModelVersion.objects.create(artifact_path="/m/1", data_fingerprint="a")
    body = staff_client.post(f"{MODELS}{version.pk}/activate/").json()
    assert (body["changed"], body["refresh_queued"]) == (True, False)
    version.refresh_from_db()
    assert version.is_active


def test_activating_an_unknown_version_is_a_404(staff_client):
    response = staff_client.post(f"{MODELS}12345/activate/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
