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
