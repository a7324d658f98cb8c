"""Persisted lists keep their movie ids, scores and reasons as packed bytes instead of jsonb.

Existing lists are converted in place (both ways), so users keep their picks across the upgrade.
"""

from django.db import migrations, models

import recommendations.fields

PACKED = {"movie_ids": "movie_ids_packed", "scores": "scores_packed", "reasons": "reasons_packed"}


def json_to_packed(apps, schema_editor):
    RecommendationList = apps.get_model("recommendations", "RecommendationList")
    batch = []
    for row in RecommendationList.objects.only(*PACKED).iterator(chunk_size=2000):
        row.movie_ids_packed = [int(m) for m in row.movie_ids]
        row.scores_packed = [float(s) for s in row.scores]
        row.reasons_packed = {int(k): int(v) for k, v in (row.reasons or {}).items()}
        batch.append(row)
        if len(batch) == 2000:
            RecommendationList.objects.bulk_update(batch, list(PACKED.values()))
            batch = []
    RecommendationList.objects.bulk_update(batch, list(PACKED.values()))


def packed_to_json(apps, schema_editor):
    RecommendationList = apps.get_model("recommendations", "RecommendationList")
    batch = []
    for row in RecommendationList.objects.only(*PACKED.values()).iterator(chunk_size=2000):
        row.movie_ids, row.scores = row.movie_ids_packed, row.scores_packed
        row.reasons = {str(k): v for k, v in row.reasons_packed.items()}
        batch.append(row)
        if len(batch) == 2000:
            RecommendationList.objects.bulk_update(batch, list(PACKED))
            batch = []
    RecommendationList.objects.bulk_update(batch, list(PACKED))


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0004_active_has_activated_at"),
    ]

    operations = [
        # Nullable first, so that undoing the RemoveFields below can add the JSON columns back.
        migrations.AlterField("recommendationlist", "movie_ids", models.JSONField(null=True)),
        migrations.AlterField("recommendationlist", "scores", models.JSONField(null=True)),
        migrations.AlterField("recommendationlist", "reasons", models.JSONField(null=True, default=dict)),
        migrations.AddField(
            "recommendationlist", "movie_ids_packed", recommendations.fields.PackedIdsField(null=True)
        ),
        migrations.AddField(
            "recommendationlist", "scores_packed", recommendations.fields.PackedScoresField(null=True)
        ),
        migrations.AddField(
            "recommendationlist", "reasons_packed", recommendations.fields.PackedPairsField(null=True)
        ),
        migrations.RunPython(json_to_packed, packed_to_json, elidable=True),
        *(migrations.RemoveField("recommendationlist", name) for name in PACKED),
        *(migrations.RenameField("recommendationlist", packed, name) for name, packed in PACKED.items()),
        migrations.AlterField(
            "recommendationlist",
            "movie_ids",
            recommendations.fields.PackedIdsField(help_text="Ranked movie ids, best first."),
        ),
        migrations.AlterField(
            "recommendationlist",
            "scores",
            recommendations.fields.PackedScoresField(help_text="Model scores, same order as movie_ids."),
        ),
        migrations.AlterField(
            "recommendationlist",
            "reasons",
            recommendations.fields.PackedPairsField(
                blank=True,
                default=dict,
                help_text="movie id -> id of the rated movie that explains the pick.",
            ),
        ),
    ]
