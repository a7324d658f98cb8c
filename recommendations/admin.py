from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from .models import ModelVersion, RecommendationList, TrainingRun
from .registry import (
    EnqueueError,
    RetrainAlreadyRunning,
    active_version,
    model_version_activate_and_refresh,
    model_version_previous,
    training_run_request,
)


class _PipelineProtectedAdmin(admin.ModelAdmin):
    """A row the retrain pipeline or serving depends on (its `needed_while` field is true) cannot be
    deleted; others are deleted one at a time (the bulk delete action would skip the per-row check)."""

    needed_while = ""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and getattr(obj, self.needed_while):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(TrainingRun)
class TrainingRunAdmin(_PipelineProtectedAdmin):
    list_display = ("id", "status", "trigger", "triggered_by", "progress_bar", "phase", "created_at", "took")
    list_filter = ("status", "trigger")
    search_fields = ("=id", "error")
    change_list_template = "admin/recommendations/trainingrun/change_list.html"
    change_form_template = "admin/recommendations/trainingrun/change_form.html"
    readonly_fields = [f.name for f in TrainingRun._meta.fields if f.name != "holds_lock"] + ["progress_bar"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # A queued or running run holds the retrain lock (a unique constraint): deleting it would let a
    # second run start beside it. Finished runs are history and may go.
    needed_while = "holds_lock"

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun) -> str:
        return format_html(
            '<progress max="100" value="{}" aria-label="progress">{}%</progress> {}%',
            round(run.progress * 100),
            round(run.progress * 100),
            round(run.progress * 100),
        )

    @admin.display(description="took")
    def took(self, run: TrainingRun) -> str:
        seconds = run.duration_seconds
        return f"{seconds:.1f} s" if seconds is not None else "–"

    def get_urls(self):
        view = self.admin_site.admin_view(self.retrain_now_view)
        return [path("retrain/", view, name="recommendations_trainingrun_retrain"), *super().get_urls()]

    def retrain_now_view(self, request: HttpRequest) -> HttpResponseRedirect | HttpResponseNotAllowed:
        """The "Retrain now" button: staff only (admin_view checks), POST only (CSRF protected)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        changelist = reverse("admin:recommendations_trainingrun_changelist")
        try:
            run = training_run_request(
                trigger=TrainingRun.Trigger.ADMIN,
                triggered_by_id=request.user.pk,
                force=bool(request.POST.get("force")),
            )
        except RetrainAlreadyRunning as exc:
            self.message_user(request, str(exc), messages.WARNING)
            target = exc.run.pk if exc.run else None
            return HttpResponseRedirect(
                reverse("admin:recommendations_trainingrun_change", args=[target]) if target else changelist
            )
        except EnqueueError as exc:
            self.message_user(request, f"Retrain not started: {exc}", messages.ERROR)
            return HttpResponseRedirect(changelist)
        self.message_user(request, f"Retrain queued as run #{run.pk}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:recommendations_trainingrun_change", args=[run.pk]))


@admin.register(ModelVersion)
class ModelVersionAdmin(_PipelineProtectedAdmin):
    list_display = (
        "id",
        "is_active",
        "ndcg",
        "recall",
        "n_users",
        "n_movies",
        "n_ratings",
        "created_at",
        "activated_at",
    )
    list_filter = ("is_active",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate_selected", "roll_back"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # The active version is what members are served (and what the cached lists and /readyz refer to):
    # activate another one first. Inactive versions may go, with their lists.
    needed_while = "is_active"

    @admin.display(description="NDCG@10 (test)")
    def ndcg(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("test", {}).get("ndcg@10")
        return f"{value:.4f}" if isinstance(value, int | float) else "–"

    @admin.display(description="Recall@10 (test)")
    def recall(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("test", {}).get("recall@10")
        return f"{value:.4f}" if isinstance(value, int | float) else "–"

    def _activate(self, request: HttpRequest, version: ModelVersion, verb: str) -> None:
        done = model_version_activate_and_refresh(version_id=version.pk)
        if not done.changed:
            note = "it already was the active version"
        elif done.refresh_queued:
            note = "its lists are being refreshed"
        else:
            note = "but the list refresh could not be queued; the persisted lists keep being served"
        self.message_user(request, f"{verb} model v{version.pk}; {note}.", messages.SUCCESS)

    @admin.action(
        description="Activate the selected version (promote or roll back)", permissions=["activate"]
    )
    def activate_selected(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        self._activate(request, queryset.get(), "Activated")

    @admin.action(description="Roll back to the previously active version", permissions=["activate"])
    def roll_back(self, request: HttpRequest, queryset) -> None:
        active = active_version()
        previous = model_version_previous(version=active) if active else None
        if previous is None:
            self.message_user(request, "There is no earlier version to roll back to.", messages.ERROR)
            return
        self._activate(request, previous, "Rolled back to")

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff and request.user.has_perm("recommendations.change_modelversion"))


@admin.register(RecommendationList)
class RecommendationListAdmin(admin.ModelAdmin):
    list_display = ("user", "model_version", "folded_in", "generated_at")
    list_filter = ("folded_in", "model_version")
    search_fields = ("=user__username",)
    raw_id_fields = ("user",)
    list_select_related = ("user", "model_version")
    show_full_result_count = False
    # The packed columns are not form fields (BinaryField); shown read-only, as lists.
    readonly_fields = ("movie_ids", "scores", "reasons")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
