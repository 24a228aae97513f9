"""Evaluation shared by several processes: each scores its share, the gathered outputs are the split's, once each.

The collective is simulated with threads (one per process, a barrier where all_gather would wait), so the
padding and reordering are tested for several process counts without starting processes; test_ddp.py runs the
real thing under torchrun."""

import threading

import numpy as np
import pytest
import torch

from tunelab.core.eval_shards import gather_outputs, shares


class FakeCollective:
    """all_gather for `world` threads: every rank's tensor, concatenated in rank order, to everyone."""

    def __init__(self, world: int):
        self.slots, self.barrier = [None] * world, threading.Barrier(world)

    def gather_for(self, rank: int):
        def gather(tensor):
            self.slots[rank] = tensor
            self.barrier.wait()
            out = torch.cat(self.slots)
            self.barrier.wait()
            return out
        return gather


def run_ranks(world: int, outputs, lengths):
    """What every rank gets back when each contributes its share of `outputs` (the split's own outputs)."""
    parts = shares(lengths, world)
    collective, got = FakeCollective(world), [None] * world

    def rank_main(rank):
        mine = [outputs[i] for i in parts[rank]]
        got[rank] = gather_outputs(collective.gather_for(rank), mine, parts, lengths, "cpu")

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(g is not None for g in got)
    return got, parts


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 7, 41])
def test_per_token_outputs_come_back_in_order_once_each(world, n):
    rng = np.random.default_rng(n * 10 + world)
    lengths = rng.integers(2, 20, size=n).astype(np.int32)
    outputs = [rng.standard_normal((int(k), 3)).astype(np.float32) for k in lengths]
    got, parts = run_ranks(world, outputs, lengths)
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))      # each example in exactly one share
    for every in got:                                                     # every process holds the whole split
        assert len(every) == n
        for a, b in zip(every, outputs):
            assert a.shape == b.shape and np.array_equal(a, b)            # exactly: no padding kept, none counted twice


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("n", [1, 5, 41])
def test_per_example_outputs_come_back_in_order_once_each(world, n):
    rng = np.random.default_rng(n)
    lengths = rng.integers(2, 20, size=n).astype(np.int32)
    outputs = rng.standard_normal((n, 4)).astype(np.float32)
    got, _ = run_ranks(world, list(outputs), lengths)
    for every in got:
        assert every.shape == outputs.shape and np.array_equal(every, outputs)


def test_shares_balance_tokens():
    lengths = np.arange(1, 102)
    a, b = shares(lengths, 2)
    assert len(a) == 51 and len(b) == 50
    assert abs(int(lengths[a].sum()) - int(lengths[b].sum())) <= lengths.max()


def test_a_share_of_the_split_scores_only_those_examples(tiny_bert):
    """predict_outputs(examples=...) gives the outputs of those examples, as the whole pass does, and runs no others."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tunelab.core.batching import encode
    from tunelab.core.inference import predict_outputs

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = [" ".join(["the cat sat"] * (1 + i % 5)) for i in range(11)]
    split = encode(tokenizer, texts, max_length=64)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
    seen = []
    model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    whole = predict_outputs(model, split, 4, "cpu", tokenizer.pad_token_id)
    seen.clear()
    part = np.array([9, 2, 5])
    some = predict_outputs(model, split, 4, "cpu", tokenizer.pad_token_id, examples=part)
    assert sum(seen) == 3
    for j, i in enumerate(part):
        np.testing.assert_allclose(some[j], whole[i], atol=1e-5)
