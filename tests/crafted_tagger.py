"""A tiny BertForTokenClassification whose tags are set by hand, for tests of what users see from a token model.

Every layer's output projections are zero, so each token's last hidden state is its own word embedding (layer-
normed); the word embedding of a vocabulary entry points at one tag's dimension and the classifier reads those
dimensions, so a token's tag is exactly the one given here, with probability ~0.99. Sub-word pieces (##x) are given
B-LOC: reading any sub-word but a word's first one shows up as a wrong tag."""

from __future__ import annotations

from pathlib import Path

from conftest import build_tiny_bert

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# the first sub-word of a word decides its tag; everything not named here (the, on, ., [CLS]...) is O
FIRST_PIECE_TAGS = {"a": "B-PER", "m": "I-PER", "p": "B-LOC", "cat": "B-PER", "dog": "B-PER", "mat": "B-LOC",
                    "table": "I-LOC"}
SENTENCE = "Angela Merkel visited Paris near the table."


def build_tagger(path: Path, *, crafted: bool = True, max_positions: int = 64, names: list[str] = TAGS) -> Path:
    """A token-classification model saved at `path` with id2label O, B-PER, I-PER, B-LOC, I-LOC: crafted as the
    module says, or (crafted=False) random. `names`: other names for those five tags, in that order (POS tags)."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    build_tiny_bert(path, max_positions=max_positions)
    config = BertConfig.from_pretrained(path)
    config.id2label = dict(enumerate(names))
    config.label2id = {t: i for i, t in enumerate(names)}
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    if crafted:
        vocab = BertTokenizerFast.from_pretrained(path).get_vocab()
        with torch.no_grad():
            emb = model.bert.embeddings
            emb.position_embeddings.weight.zero_()
            emb.token_type_embeddings.weight.zero_()
            emb.word_embeddings.weight.zero_()
            for token, i in vocab.items():
                tag = "B-LOC" if token.startswith("##") else FIRST_PIECE_TAGS.get(token, "O")
                emb.word_embeddings.weight[i, TAGS.index(tag)] = 10.0
            for layer in model.bert.encoder.layer:
                for dense in (layer.attention.output.dense, layer.output.dense):
                    dense.weight.zero_()
                    dense.bias.zero_()
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            for t in range(len(TAGS)):
                model.classifier.weight[t, t] = 1.0
    model.save_pretrained(path)
    return path
