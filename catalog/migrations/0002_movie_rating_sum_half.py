from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="movie",
            name="rating_sum_half",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
