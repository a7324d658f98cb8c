from django.contrib import admin

from .models import Rating
from .services import rating_delete, rating_upsert


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("user", "movie", "value", "updated_at")
    list_filter = ("value",)
    search_fields = ("=user__username", "movie__title")
    raw_id_fields = ("user", "movie")
    list_select_related = ("user", "movie")
    date_hierarchy = "updated_at"
    show_full_result_count = False

    # Admin edits go through the services so movie statistics stay exact and listeners hear of it.
    def save_model(self, request, obj, form, change):
        if change and {"user", "movie"} & set(form.changed_data):
            rating_delete(user_id=form.initial["user"], movie_id=form.initial["movie"])
        result = rating_upsert(user_id=obj.user_id, movie_id=obj.movie_id, value=obj.value)
        obj.pk = result.rating.pk

    def delete_model(self, request, obj):
        rating_delete(user_id=obj.user_id, movie_id=obj.movie_id)

    def delete_queryset(self, request, queryset):
        for user_id, movie_id in queryset.values_list("user_id", "movie_id"):
            rating_delete(user_id=user_id, movie_id=movie_id)
