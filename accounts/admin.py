from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from knox.models import AuthToken

from .forms import StaffUserChangeForm, StaffUserCreationForm
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
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    list_display = ("username", "email", "is_staff", "dataset_source", "dataset_user_id", "date_joined")
    list_filter = (DatasetUserFilter, "dataset_source", "is_staff", "is_active")
    search_fields = ("username", "email", "dataset_user_id")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Dataset", {"fields": ("dataset_source", "dataset_user_id")}),
    )


# knox's own admin lists each token's digest and searches by the key's first characters; staff need
# neither. Tokens are listed by owner and dates only, and can be revoked (deleted), never made or read.
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
