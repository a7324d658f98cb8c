"""Fill catalog.Movie.rating_sum_half (new in catalog 0002) exactly from the ratings, with the count and
the mean derived from the same recount."""

from django.db import migrations


def backfill(apps, schema_editor):
    grouped = (
        "SELECT movie_id, COUNT(*) AS n, CAST(SUM(value * 2) AS bigint) AS halves "
        "FROM ratings_rating GROUP BY movie_id"
    )
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(
                f"""
                UPDATE catalog_movie AS m
                   SET rating_count = COALESCE(s.n, 0), rating_sum_half = COALESCE(s.halves, 0),
                       rating_mean = COALESCE(CAST(s.halves AS double precision) / (2 * s.n), 0)
                  FROM catalog_movie AS m2 LEFT JOIN ({grouped}) AS s ON s.movie_id = m2.id
                 WHERE m.id = m2.id
                """
            )
        else:
            cursor.execute(
                f"""
                WITH s AS ({grouped})
                UPDATE catalog_movie
                   SET rating_count = COALESCE((SELECT n FROM s WHERE s.movie_id = catalog_movie.id), 0),
                       rating_sum_half = COALESCE((SELECT halves FROM s WHERE s.movie_id = catalog_movie.id), 0),
                       rating_mean = COALESCE((SELECT CAST(halves AS REAL) / (2 * n) FROM s
                                               WHERE s.movie_id = catalog_movie.id), 0)
                """
            )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_movie_rating_sum_half"),
        ("ratings", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
