from django.contrib import admin

from .models import Genre, Movie


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ("name", "movie_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_movie_count=Count("movies"))

    @admin.display(ordering="_movie_count", description="movies")
    def movie_count(self, obj: Genre) -> int:
        return int(getattr(obj, "_movie_count", 0))


class DecadeFilter(admin.SimpleListFilter):
    title = "decade"
    parameter_name = "decade"

    def lookups(self, request, model_admin):
        return [(str(d), f"{d}s") for d in range(2020, 1900, -10)] + [("unknown", "Unknown year")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "unknown":
            return queryset.filter(year__isnull=True)
        if value and value.isdigit():
            start = int(value)
            return queryset.filter(year__gte=start, year__lt=start + 10)
        return queryset


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin):
    list_display = ("title", "year", "rating_count", "rating_mean", "movielens_id", "imdb_id", "amazon_asin")
    list_filter = ("genres", DecadeFilter)
    search_fields = ("title", "=imdb_id", "=amazon_asin", "=movielens_id")
    readonly_fields = ("rating_count", "rating_mean", "created_at", "updated_at")
    filter_horizontal = ("genres",)
    show_full_result_count = False
