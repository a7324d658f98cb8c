from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import User


class DatasetUserFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("people", "People"), ("dataset", "Dataset users")]

    def queryset(self, request, queryset):
        if self.value() == "people":
            return queryset.filter(dataset_source="")
        if self.value() == "dataset":
            return queryset.exclude(dataset_source="")
        return queryset


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "dataset_source", "dataset_user_id", "date_joined")
    list_filter = (DatasetUserFilter, "dataset_source", "is_staff", "is_active")
    search_fields = ("username", "email", "dataset_user_id")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Dataset", {"fields": ("dataset_source", "dataset_user_id")}),
    )
