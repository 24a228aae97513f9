"""Ways of fine-tuning people compare (core/adaptation.py): LoRA through PEFT, re-initialising the top layers, and
layer-wise learning-rate decay, on tiny random BERTs."""

import json
import threading

import pytest
import torch

from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.events import RunStarted, StepLogged
from tunelab.core.fit import fit

from conftest import build_tiny_bert

EQN = "classify: label ~ sentence"
SENTENCES = ["the cats are on the mat .", "a dog", "the big red cat was near the table , happy and good ."]


def config(model, data, out, **overrides):
    base = dict(model=str(model), data=str(data), eqn=EQN, out=str(out), epochs=3, lr=5e-3, batch_size=16, seed=3,
                warmup=0)
    return FitConfig(**{**base, **overrides})


def logits(model, tokenizer, texts):
    model.eval()
    with torch.no_grad():
        return model(**tokenizer(texts, return_tensors="pt", padding=True)).logits


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """A LoRA run (r 8) of the tiny BERT on the toy task, and the events it emitted."""
    from conftest import write_toy_splits

    root = tmp_path_factory.mktemp("lora")
    base = build_tiny_bert(root / "base")
    data = write_toy_splits(root / "toy")
    events = []
    result = fit(config(base, data, root / "run", lora_r=8, lora_alpha=16, epochs=10, lr=2e-2), on_event=events.append)
    return {"base": base, "data": data, "run": root / "run", "result": result, "events": events}


def test_lora_trains_the_adapters_and_the_head_only_and_records_how_many(lora_run):
    run, result = lora_run["run"], lora_run["result"]
    assert result.status == "completed" and result.metrics["test"]["accuracy"] > 0.8   # it learns
    info = json.loads((run / "run.json").read_text())
    params = info["parameters"]
    assert params["lora_targets"] == ["query", "value"]                   # PEFT's own choice for BERT
    assert params["trained_in_full"] == ["bert.pooler", "classifier"]     # asked of the model: the head and the pooler
    assert 0 < params["trainable"] < params["total"] / 5
    started = next(e for e in lora_run["events"] if isinstance(e, RunStarted))
    assert (started.trainable_parameters, started.total_parameters) == (params["trainable"], params["total"])
    assert info["config"]["lora_r"] == 8


def test_lora_saves_a_merged_model_with_the_adapters_outputs_and_keeps_the_adapter(lora_run):
    """The merged model (plain transformers, no adapter file in it) gives the adapter model's outputs; the adapter,
    loaded with PEFT onto the base model, brings its trained head back (not a fresh one)."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = lora_run["run"]
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert not (run / "model" / "adapter_config.json").exists()          # else transformers loads the adapter again
    assert not any("lora" in k or "modules_to_save" in k for k in load_file(str(run / "model" / "model.safetensors")))
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    merged = AutoModelForSequenceClassification.from_pretrained(run / "model")   # plain transformers
    base = AutoModelForSequenceClassification.from_pretrained(lora_run["base"], num_labels=2)
    adapted = PeftModel.from_pretrained(base, run / "adapter")
    expected = logits(adapted, tokenizer, SENTENCES)
    assert torch.allclose(logits(merged, tokenizer, SENTENCES), expected, atol=1e-5)
    fresh = AutoModelForSequenceClassification.from_pretrained(lora_run["base"], num_labels=2)
    assert not torch.allclose(logits(fresh, tokenizer, SENTENCES), expected, atol=1e-3)   # the head was restored


def test_a_lora_run_loads_in_pipeline_and_tunelab_predict(lora_run):
    from transformers import pipeline

    from tunelab.core.predictor import Predictor

    run = lora_run["run"]
    pipe = pipeline("text-classification", model=str(run / "model"), device=-1)
    out = pipe(SENTENCES[0], top_k=None)
    out = out[0] if isinstance(out[0], list) else out
    ours = Predictor(str(run), backend="torch").predict(SENTENCES[0])
    assert {d["label"]: pytest.approx(d["score"], abs=1e-5) for d in out} == ours.probabilities


def test_a_stopped_lora_run_resumes_where_it_stopped(tiny_bert, toy_data, tmp_path):
    """The checkpoint holds the adapters, the head and their optimizer state: the resumed run's losses are the
    uninterrupted run's, step for step, and it saves a merged model with its adapter."""
    full = []
    fit(config(tiny_bert, toy_data, tmp_path / "full", lora_r=4, log_seconds=0), on_event=full.append)
    full_losses = {e.step: e.loss for e in full if isinstance(e, StepLogged)}
    stop = threading.Event()

    def stop_at_7(event):
        if isinstance(event, StepLogged) and event.step >= 7:
            stop.set()

    cut = fit(config(tiny_bert, toy_data, tmp_path / "cut", lora_r=4, log_seconds=0), on_event=stop_at_7, stop=stop)
    assert cut.status == "stopped" and cut.steps == 7
    second = []
    resumed = fit(resume=str(tmp_path / "cut"), on_event=second.append)
    assert resumed.status == "completed" and resumed.steps == max(full_losses)
    losses = {e.step: e.loss for e in second if isinstance(e, StepLogged)}
    assert min(losses) == 8
    for step, loss in losses.items():
        assert loss == pytest.approx(full_losses[step], rel=1e-4, abs=1e-6), step
    assert (tmp_path / "cut" / "adapter" / "adapter_config.json").is_file()
    assert resumed.metrics["test"] == pytest.approx(json.loads((tmp_path / "full" / "metrics.json").read_text())["test"])


def test_reinit_layers_changes_only_the_top_layers_and_the_pooler(tmp_path):
    """--reinit-layers 1 of a 3-layer model: layer 2 and the pooler start again, layers 0-1 and the embeddings are
    the pretrained ones."""
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification

    from tunelab.core.adaptation import prepare

    built = AutoModelForSequenceClassification.from_pretrained(build_tiny_bert(tmp_path / "b", layers=3, num_labels=2))
    with torch.no_grad():                 # "pretrained": no weight is where an initialisation would put it
        for p in built.parameters():
            p.add_(0.5 + torch.rand_like(p))
    built.save_pretrained(tmp_path / "pretrained")
    pretrained = built.state_dict()
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "pretrained")
    settings = SimpleNamespace(freeze_layers=-1, reinit_layers=1, lora_r=None)
    torch.manual_seed(0)
    model = prepare(model, settings)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, pretrained[k])}
    assert changed == {k for k, _ in built.named_parameters() if k.startswith(("bert.encoder.layer.2.", "bert.pooler."))}
    std = float(model.bert.encoder.layer[2].attention.self.query.weight.detach().std())
    assert std == pytest.approx(model.config.initializer_range, rel=0.3)     # the model's own initialisation


def test_a_run_with_reinit_layers_trains_and_records_it(tiny_bert, toy_data, tmp_path):
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", reinit_layers=1))
    assert result.status == "completed"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["reinit_layers"] == 1


def test_layer_lr_decay_gives_each_layer_its_learning_rate(tmp_path):
    """Head and pooler at --lr, the top layer at lr x F, each layer below F times the one above, embeddings lowest;
    biases and LayerNorm weights are never decayed; frozen parameters are in no group."""
    from transformers import AutoModelForSequenceClassification

    from tunelab.core.adaptation import freeze
    from tunelab.core.fit import adamw

    model = AutoModelForSequenceClassification.from_pretrained(build_tiny_bert(tmp_path / "b", layers=3), num_labels=2)
    lr, f = 1e-3, 0.5
    optimizer = adamw(model, lr, 0.01, f)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    expected = {"classifier.": lr, "bert.pooler.": lr, "bert.encoder.layer.2.": lr * f,
                "bert.encoder.layer.1.": lr * f ** 2, "bert.encoder.layer.0.": lr * f ** 3, "bert.embeddings.": lr * f ** 4}
    for name, p in model.named_parameters():
        want = next(v for prefix, v in expected.items() if name.startswith(prefix))
        assert lr_of[id(p)] == pytest.approx(want), name
        assert decay_of[id(p)] == (0.0 if name.endswith("bias") or "LayerNorm" in name else 0.01), name
    assert optimizer.param_groups[0]["lr"] == lr                 # the first group (the logged rate) is the head's
    plain = adamw(model, lr, 0.01)                               # 1.0: the two groups as before
    assert len(plain.param_groups) == 2 and all(g["lr"] == lr for g in plain.param_groups)
    freeze(model, 1)
    frozen = {id(p) for g in adamw(model, lr, 0.01, f).param_groups for p in g["params"]}
    assert not any(id(p) in frozen for p in model.bert.embeddings.parameters())
    assert not any(id(p) in frozen for p in model.bert.encoder.layer[0].parameters())


def test_a_run_with_layer_lr_decay_schedules_every_group(tiny_bert, toy_data, tmp_path):
    events = []
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", layer_lr_decay=0.5, epochs=1, log_seconds=0),
                 on_event=events.append)
    assert result.status == "completed"
    first = next(e for e in events if isinstance(e, StepLogged))
    total = json.loads((tmp_path / "run" / "run.json").read_text())["total_steps"]
    assert first.step == 1 and first.learning_rate == pytest.approx(5e-3 * (total - 1) / total)  # the head's rate


@pytest.mark.parametrize("kw, fragment", [
    (dict(reinit_layers=3), "--reinit-layers 3: the model has only 2 layers"),
    (dict(lora_r=4, freeze_layers=1), "already freezes every pretrained weight"),
    (dict(lora_r=4, reinit_layers=1), "the re-initialised layers would stay random"),
    (dict(reinit_layers=1, freeze_layers=2), "give at most --freeze-layers 1"),
    (dict(lora_alpha=32), "--lora-alpha shapes LoRA adapters, but LoRA is off"),
    (dict(lora_r=4, lora_targets="query,nope"), "no module named .nope.; its linear and embedding layers are named"),
    (dict(lora_r=4, lora_targets="dropout"), "no linear module named 'dropout'"),
    (dict(lora_r=-1), "--lora-r -1 is out of range"),
    (dict(layer_lr_decay=0), "--layer-lr-decay 0 is out of range: it must be above 0 and at most 1"),
    (dict(lora_dropout=1), "--lora-dropout 1 is out of range"),
])
def test_adaptation_mistakes_fail_before_anything_is_written(tiny_bert, toy_data, tmp_path, kw, fragment):
    with pytest.raises(TuneLabError, match=fragment):
        fit(config(tiny_bert, toy_data, tmp_path / "run", **kw))
    assert not (tmp_path / "run").exists()


def test_lora_r_0_is_full_fine_tuning(tiny_bert, toy_data, tmp_path):
    """An explicit --lora-r 0 (as a --grid lora_r=0,8 gives it) is off, with the other LoRA settings unused."""
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", lora_r=0, lora_alpha=32, epochs=1))
    assert result.status == "completed" and not (tmp_path / "run" / "adapter").exists()
    params = json.loads((tmp_path / "run" / "run.json").read_text())["parameters"]
    assert params["trainable"] == params["total"]


def test_a_lora_models_best_weights_go_back_whole(tiny_bert, tmp_path):
    """best/ of a LoRA run holds every tensor (PEFT's save_pretrained would write the adapter alone, and restoring
    the best evaluation would then silently keep the last weights)."""
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tunelab.core.adaptation import load_weights, prepare, save_weights

    torch.manual_seed(0)
    model = prepare(AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2),
                    SimpleNamespace(freeze_layers=-1, reinit_layers=0, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                                    lora_targets=""))
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.rand_like(p))                  # as training would have moved them
    best = logits(model, tokenizer, SENTENCES)
    save_weights(model, tmp_path / "best")
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.rand_like(p))                  # later steps, worse ones
    assert not torch.allclose(logits(model, tokenizer, SENTENCES), best)
    load_weights(model, tmp_path / "best" / "model.safetensors")
    assert torch.allclose(logits(model, tokenizer, SENTENCES), best)


def test_lora_on_token_tags_trains_the_token_head_in_full_and_merges(tiny_bert, tmp_path):
    """The head is asked of the model, not of the task: a token tagger's classifier (no pooler) is trained in full
    and saved with the adapter; the merged model gives the adapter model's outputs."""
    from peft import PeftModel
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from conftest import NER_EQN, write_toy_ner_splits

    data = write_toy_ner_splits(tmp_path / "ner")
    result = fit(config(tiny_bert, data, tmp_path / "run", eqn=NER_EQN, lora_r=4, epochs=1))
    assert result.status == "completed"
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["parameters"]["trained_in_full"] == ["classifier"]
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    merged = AutoModelForTokenClassification.from_pretrained(run / "model")
    base = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=merged.config.num_labels)
    adapted = PeftModel.from_pretrained(base, run / "adapter")
    assert torch.allclose(logits(merged, tokenizer, SENTENCES), logits(adapted, tokenizer, SENTENCES), atol=1e-5)


def test_layer_lr_decay_with_lora_gives_the_adapters_their_layers_rates(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from tunelab.core.adaptation import parameter_groups, with_lora

    model = AutoModelForSequenceClassification.from_pretrained(build_tiny_bert(tmp_path / "b", layers=3), num_labels=2)
    model = with_lora(model, 4, 8.0, 0.0, ["query", "value"])
    groups = parameter_groups(model, 1e-3, 0.01, 0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert set(map(id, trainable.values())) == set(lr_of)               # every trainable one, no frozen one
    for name, p in trainable.items():
        if "lora_" in name:
            layer = int(name.split("layer.")[1].split(".")[0])
            assert lr_of[id(p)] == pytest.approx(1e-3 * 0.5 ** (3 - layer)), name
        else:                                                          # the head and pooler, trained in full
            assert ("classifier" in name or "pooler" in name) and lr_of[id(p)] == 1e-3, name
