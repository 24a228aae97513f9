import numpy as np

from tunelab.core.batching import EncodedSplit, collate, length_grouped_batches, sorted_batches


def test_length_grouped_batches_cover_every_example_once_and_are_seeded():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=1000)
    batches = length_grouped_batches(lengths, 32, seed=1, epoch=0)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    again = length_grouped_batches(lengths, 32, seed=1, epoch=0)
    assert all((a == b).all() for a, b in zip(batches, again))
    other = length_grouped_batches(lengths, 32, seed=1, epoch=1)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(batches, other))


def test_grouping_pads_far_less_than_random_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=2000)
    padded = lambda batches: sum(lengths[b].max() * len(b) for b in batches)
    grouped = padded(length_grouped_batches(lengths, 32, seed=0, epoch=0))
    random = padded([b for b in np.array_split(rng.permutation(2000), 2000 // 32)])
    assert grouped < 0.75 * random
    assert grouped < 1.1 * lengths.sum()


def test_collate_pads_to_the_batch_longest_not_to_max_length():
    ids = [np.array([2, 5, 6, 3], dtype=np.int32), np.array([2, 7, 3], dtype=np.int32)]
    split = EncodedSplit(ids, None, np.array([1, 0]), np.array([4, 3]), 0)
    batch = collate(split, np.array([1, 0]), pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 7, 3, 0], [2, 5, 6, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert batch["labels"].tolist() == [0, 1]
    assert [b.tolist() for b in sorted_batches(np.array([3, 9, 5]), 2)] == [[1, 2], [0]]
