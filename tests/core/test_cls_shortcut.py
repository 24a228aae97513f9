"""The [CLS]-only last layer computes the same logits and gradients as the full layer."""

import copy

import pytest
import torch

from tunelab.core import cls_shortcut

from conftest import build_tiny_bert


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    """conftest runs torch on one thread; users run several, where matmuls and reductions split differently."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        torch.set_num_threads(before)


def test_same_logits_and_gradients_with_padding(tmp_path, torch_threads):
    from transformers import AutoModelForSequenceClassification

    assert torch.get_num_threads() == torch_threads
    for impl in ("sdpa", "eager"):
        full = AutoModelForSequenceClassification.from_pretrained(build_tiny_bert(tmp_path / impl, num_labels=3), attn_implementation=impl)
        short = copy.deepcopy(full)
        assert cls_shortcut.install(short)
        torch.manual_seed(0)
        ids = torch.randint(5, 40, (4, 9))
        mask = torch.ones_like(ids)
        mask[1, 5:] = 0
        mask[3, 2:] = 0
        labels = torch.tensor([0, 2, 1, 0])
        a = full(input_ids=ids, attention_mask=mask, labels=labels)
        b = short(input_ids=ids, attention_mask=mask, labels=labels)
        assert torch.allclose(a.logits, b.logits, atol=1e-6)
        a.loss.backward()
        b.loss.backward()
        for (name, p), q in zip(full.named_parameters(), short.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-6), name
        # the saved weights do not know about the shortcut
        assert short.state_dict().keys() == full.state_dict().keys()


def test_only_heads_that_read_cls_get_it(tiny_bert):
    from transformers import AutoModel

    assert not cls_shortcut.install(AutoModel.from_pretrained(tiny_bert))
