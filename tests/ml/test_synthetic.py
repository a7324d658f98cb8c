import numpy as np

from ml.synthetic import generate


def test_generator_plants_clusters_without_duplicate_ratings():
    d = generate(n_users=50, n_items=40, n_clusters=4, ratings_per_user=10, seed=1)
    assert len(d.users) == 500
    pairs = d.users * 1000 + d.items
    assert len(np.unique(pairs)) == len(pairs)
    liked = d.item_cluster[d.items - 1] == d.user_cluster[d.users - 1]
    assert (d.ratings[liked] >= 4).all()
    assert (d.ratings[~liked] <= 3).all()
    assert liked.mean() > 0.6


def test_generator_is_deterministic_for_a_seed():
    a, b = generate(seed=5), generate(seed=5)
    assert (a.items == b.items).all()
    assert (a.ratings == b.ratings).all()


def test_movielens_generator_hits_the_sizes_with_planted_tastes(tmp_path):
    from ml.datasets import read_movielens
    from ml.synthetic import generate_movielens, main

    d = generate_movielens(n_users=300, n_items=500, n_ratings=20_000, seed=2)
    assert len(d) == 20_000
    per_user = np.bincount(d.users)[1:]
    assert per_user.min() >= 20
    assert per_user.max() > 2.5 * np.median(per_user)
    keys = d.users.astype(np.int64) * 1000 + d.items
    assert len(np.unique(keys)) == len(keys)
    assert set(np.unique(d.ratings * 2)) <= set(range(1, 11))
    # stars follow the planted taste: movies of a user's favourite genre are rated higher
    fav = d.user_taste.argmax(axis=1)[d.users - 1] == d.item_genre[d.items - 1]
    assert d.ratings[fav].mean() > d.ratings[~fav].mean() + 0.5
    # the command line writes ml-latest files the dataset reader accepts
    assert (
        main(
            ["--out", str(tmp_path), "--users", "300", "--movies", "500", "--ratings", "20000", "--seed", "2"]
        )
        == 0
    )
    loaded = read_movielens(tmp_path)
    assert loaded.format == "ml-latest"
    assert len(loaded.ratings) == 20_000
    assert len(loaded.movies) == 500
    np.testing.assert_array_equal(loaded.ratings["rating"].to_numpy(np.float32), d.ratings)
    np.testing.assert_array_equal(loaded.ratings["timestamp"].to_numpy(), d.timestamps)
