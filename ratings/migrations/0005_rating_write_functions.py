"""A rating write in one round trip on PostgreSQL: `ratings.services.rating_upsert` and `rating_delete`
call these functions, which do in the server, in one statement (so in one transaction), what the
services do statement by statement elsewhere: the member's stale-list note, the rating, the movie's
statistics by one exact increment, and (an upsert) the watchlist entry; an upsert returns the movie's
statistics as that write left them, for the answer. Locks are taken in the
services' order: the note, the rating, the movie last. Other databases keep the Python path.

Errors the services turn into answers: SQLSTATE RT404 (no such movie) and RT409 (the pair was
inserted and deleted by writers that take no note, three times over).
"""

from django.db import migrations

UPSERT = """
CREATE OR REPLACE FUNCTION ratings_rating_upsert(
    p_user_id bigint, p_movie_id bigint, p_value double precision, p_at timestamptz,
    OUT rating_id bigint, OUT created boolean, OUT created_at timestamptz,
    OUT movie_rating_count integer, OUT movie_rating_mean double precision
) LANGUAGE plpgsql AS $$
DECLARE
    old_value double precision;
    count_delta integer;
    half_delta bigint;
BEGIN
    INSERT INTO ratings_stalelistnote (user_id, changed_at, changes) VALUES (p_user_id, p_at, 1)
    ON CONFLICT (user_id) DO UPDATE
        SET changed_at = EXCLUDED.changed_at, changes = ratings_stalelistnote.changes + 1;
    FOR attempt IN 1..3 LOOP
        SELECT r.id, r.value, r.created_at INTO rating_id, old_value, created_at
          FROM ratings_rating r WHERE r.user_id = p_user_id AND r.movie_id = p_movie_id FOR UPDATE;
        IF FOUND THEN
            UPDATE ratings_rating SET value = p_value, updated_at = p_at WHERE id = rating_id;
            created := false;
            count_delta := 0;
            half_delta := round(p_value * 2) - round(old_value * 2);
            EXIT;
        END IF;
        INSERT INTO ratings_rating (user_id, movie_id, value, created_at, updated_at)
        VALUES (p_user_id, p_movie_id, p_value, p_at, p_at)
        ON CONFLICT (user_id, movie_id) DO NOTHING RETURNING id INTO rating_id;
        IF FOUND THEN
            created := true;
            created_at := p_at;
            count_delta := 1;
            half_delta := round(p_value * 2);
            EXIT;
        END IF;
    END LOOP;
    IF count_delta IS NULL THEN
        RAISE EXCEPTION 'The rating changed concurrently; try again.' USING ERRCODE = 'RT409';
    END IF;
    IF count_delta <> 0 OR half_delta <> 0 THEN
        UPDATE catalog_movie
           SET rating_count = rating_count + count_delta,
               rating_sum_half = rating_sum_half + half_delta,
               rating_mean = COALESCE(
                   CAST(rating_sum_half + half_delta AS double precision)
                   / NULLIF(CAST(rating_count + count_delta AS double precision) * 2.0, 0.0), 0.0)
         WHERE id = p_movie_id
        RETURNING rating_count, rating_mean INTO movie_rating_count, movie_rating_mean;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'There is no movie with id %.', p_movie_id USING ERRCODE = 'RT404';
        END IF;
    ELSE
        SELECT m.rating_count, m.rating_mean INTO movie_rating_count, movie_rating_mean
          FROM catalog_movie m WHERE m.id = p_movie_id;
    END IF;
    DELETE FROM ratings_watchlistentry WHERE user_id = p_user_id AND movie_id = p_movie_id;
END
$$;
"""

DELETE = """
CREATE OR REPLACE FUNCTION ratings_rating_delete(p_user_id bigint, p_movie_id bigint, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    old_half bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ratings_rating WHERE user_id = p_user_id AND movie_id = p_movie_id) THEN
        RETURN false;
    END IF;
    INSERT INTO ratings_stalelistnote (user_id, changed_at, changes) VALUES (p_user_id, p_at, 1)
    ON CONFLICT (user_id) DO UPDATE
        SET changed_at = EXCLUDED.changed_at, changes = ratings_stalelistnote.changes + 1;
    DELETE FROM ratings_rating WHERE user_id = p_user_id AND movie_id = p_movie_id
    RETURNING round(value * 2) INTO old_half;
    IF NOT FOUND THEN  -- deleted concurrently: that change noted the list stale too
        RETURN false;
    END IF;
    UPDATE catalog_movie
       SET rating_count = rating_count - 1,
           rating_sum_half = rating_sum_half - old_half,
           rating_mean = COALESCE(
               CAST(rating_sum_half - old_half AS double precision)
               / NULLIF(CAST(rating_count - 1 AS double precision) * 2.0, 0.0), 0.0)
     WHERE id = p_movie_id;
    RETURN true;
END
$$;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no parameters: the bodies' % stay as they are
            cursor.execute(UPSERT)
            cursor.execute(DELETE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS ratings_rating_upsert(bigint, bigint, double precision, timestamptz)"
        )
        schema_editor.execute("DROP FUNCTION IF EXISTS ratings_rating_delete(bigint, bigint, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0004_skipped_movies"),
        ("catalog", "0002_movie_rating_sum_half"),
    ]

    operations = [migrations.RunPython(create, drop)]
