"""`--batch-size auto` and out-of-memory while scoring, on CPU with a fake memory limit: the model's forward raises
the real out-of-memory exception (torch.OutOfMemoryError, with the text CUDA gives it) when a batch has more rows
than the limit, as a GPU with too little memory would."""

import json
import threading

import pytest
import torch

from tunelab.core.auto_batch import BatchChoice, find_micro_batch
from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.events import BatchSizeChosen, StepLogged, read_events
from tunelab.core.fit import fit

EQN = "classify: label ~ sentence"


def config(model, data, out, **overrides):
    base = dict(model=str(model), data=str(data), eqn=EQN, out=str(out), epochs=2, lr=2e-3, seed=3, warmup=0)
    return FitConfig(**{**base, **overrides})


def out_of_memory(rows: int, limit: int) -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 MiB (a fake limit of {limit} rows, "
                                  f"given {rows})")


@pytest.fixture
def memory_limit(monkeypatch):
    """limit(train=N, eval=M): a forward over more than N rows in training (M in evaluation) runs out of memory."""
    from transformers import BertForSequenceClassification

    real = BertForSequenceClassification.forward
    limits = {}

    def forward(self, input_ids=None, **kwargs):
        limit = limits.get("train" if self.training else "eval")
        if limit is not None and input_ids.shape[0] > limit:
            raise out_of_memory(input_ids.shape[0], limit)
        return real(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(BertForSequenceClassification, "forward", forward)

    def limit(train=None, eval=None):
        limits.clear()
        limits.update({k: v for k, v in (("train", train), ("eval", eval)) if v is not None})
    return limit


def test_auto_finds_the_largest_micro_batch_that_fits_and_keeps_the_effective_batch(tiny_bert, toy_data, tmp_path,
                                                                                    memory_limit):
    memory_limit(train=10)
    events = []
    auto = fit(config(tiny_bert, toy_data, tmp_path / "auto", batch_size="auto"), on_event=events.append)
    assert auto.status == "completed"
    chosen = [e for e in events if isinstance(e, BatchSizeChosen)]
    assert len(chosen) == 1 and chosen[0].what == "train"
    # the default effective batch, 32, through its divisors: 32 and 16 run out of memory, 8 fits
    assert (chosen[0].batch_size, chosen[0].grad_accum, chosen[0].effective_batch) == (8, 4, 32)
    assert chosen[0].batch_size * chosen[0].grad_accum == 32
    assert chosen[0].did_not_fit == [32, 16]
    assert list(read_events(tmp_path / "auto" / "events.jsonl")) == events

    run = json.loads((tmp_path / "auto" / "run.json").read_text())
    assert run["config"]["batch_size"] == "auto" and run["config"]["grad_accum"] == 1     # what was asked
    assert run["batch"] == {"micro_batch": 8, "grad_accum": 4, "effective_batch": 32, "auto": True,
                            "did_not_fit": [32, 16]}                                        # what was chosen

    # the same run with that micro-batch given explicitly: the same steps, losses and scores
    explicit_events = []
    explicit = fit(config(tiny_bert, toy_data, tmp_path / "explicit", batch_size=8, grad_accum=4),
                   on_event=explicit_events.append)
    assert auto.steps == explicit.steps == 10          # 160 rows: 20 micro-batches of 8, 5 steps of 4, 2 epochs
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert losses == pytest.approx([e.loss for e in explicit_events if isinstance(e, StepLogged)], rel=1e-5)
    for split in ("validation", "test"):
        assert auto.metrics[split] == pytest.approx(explicit.metrics[split], rel=1e-5)
    assert not any(isinstance(e, BatchSizeChosen) for e in explicit_events)
    assert json.loads((tmp_path / "explicit" / "run.json").read_text())["batch"]["auto"] is False


def test_auto_keeps_a_grad_accum_given_with_it_in_the_effective_batch(tiny_bert, toy_data, tmp_path, memory_limit):
    memory_limit(train=20)
    events = []
    fit(config(tiny_bert, toy_data, tmp_path / "run", batch_size="auto", grad_accum=2, epochs=1, eval_every=0),
        on_event=events.append)
    (chosen,) = [e for e in events if isinstance(e, BatchSizeChosen)]
    assert (chosen.batch_size, chosen.grad_accum, chosen.effective_batch, chosen.did_not_fit) == (16, 4, 64, [64, 32])


def test_a_resumed_auto_run_keeps_the_micro_batch_it_chose(tiny_bert, toy_data, tmp_path, memory_limit):
    memory_limit(train=10)
    stop = threading.Event()

    def stop_at_3(event):
        if isinstance(event, StepLogged) and event.step == 3:
            stop.set()

    first = fit(config(tiny_bert, toy_data, tmp_path / "run", batch_size="auto", log_seconds=0), on_event=stop_at_3,
                stop=stop)
    assert first.status == "stopped"
    memory_limit()                 # more memory now: a new search would pick 32, but the checkpoint counts 8s
    events = []
    resumed = fit(resume=str(tmp_path / "run"), on_event=events.append)
    assert resumed.status == "completed" and resumed.steps == 10
    (chosen,) = [e for e in events if isinstance(e, BatchSizeChosen)]
    assert (chosen.batch_size, chosen.grad_accum) == (8, 4)


def test_out_of_memory_while_scoring_lowers_the_evaluation_batch_not_the_training_one(tiny_bert, toy_data, tmp_path,
                                                                                     memory_limit, capsys):
    memory_limit(eval=12)
    events = []
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", batch_size=16, eval_batch_size=64),
                 on_event=events.append)
    assert result.status == "completed" and result.steps == 20     # the training batch stayed 16
    lowered = [e for e in events if isinstance(e, BatchSizeChosen)]
    assert [e.what for e in lowered] == ["eval", "eval", "eval"]
    assert [e.batch_size for e in lowered] == [32, 16, 8]           # halved until a pass fits, once for the run
    assert lowered[-1].did_not_fit == [64, 32, 16] and lowered[-1].split == "validation"
    assert set(result.metrics) == {"validation", "test"}            # the test split was scored at 8 too

    normal = fit(config(tiny_bert, toy_data, tmp_path / "normal", batch_size=16, eval_batch_size=8))
    assert result.metrics["test"] == pytest.approx(normal.metrics["test"], rel=1e-5)

    from tunelab.cli.progress import batch_size_line

    line = batch_size_line(lowered[-1])
    assert line == ("out of memory scoring validation at an evaluation batch of 16: lowered to 8 (--eval-batch-size; "
                    "the training batch is unchanged)")


def test_other_out_of_memory_stays_one_line_naming_the_settings(tiny_bert, toy_data, tmp_path, memory_limit):
    memory_limit(train=4)
    with pytest.raises(TuneLabError) as err:
        fit(config(tiny_bert, toy_data, tmp_path / "run", batch_size=16))
    assert str(err.value) == ("CUDA out of memory at --batch-size 16; try --batch-size 8 --grad-accum 2, "
                              "or a smaller --max-length")
    memory_limit(train=0)          # nothing fits: the search says so, in one line
    with pytest.raises(TuneLabError) as err:
        fit(config(tiny_bert, toy_data, tmp_path / "auto", batch_size="auto"))
    assert "out of memory even at a micro-batch of 1" in str(err.value)
    assert "32, 16, 8, 4, 2, 1" in str(err.value) and "--max-length" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "auto" / "run.json").exists()          # nothing half-written: --out stays reusable


def test_out_of_memory_scoring_one_example_at_a_time_is_one_line(tiny_bert, toy_data, tmp_path, memory_limit):
    memory_limit(eval=0)
    with pytest.raises(TuneLabError, match=r"^out of memory scoring validation even one example at a time; "
                                           r"try a smaller --max-length"):
        fit(config(tiny_bert, toy_data, tmp_path / "run", batch_size=16, epochs=1))


@pytest.mark.parametrize("grad_accum, limit, expected", [
    (1, 40, (32, 1, ())),
    (3, 20, (16, 6, (96, 48, 32, 24))),       # divisors of 96: 96, 48, 32, 24, 16, ...
    (1, 1, (1, 32, (32, 16, 8, 4, 2))),
])
def test_the_search_walks_the_divisors_of_the_effective_batch(grad_accum, limit, expected):
    tried = []

    def fits(size):
        tried.append(size)
        if size > limit:
            raise out_of_memory(size, limit)

    choice = find_micro_batch(FitConfig(batch_size="auto", grad_accum=grad_accum), fits)
    assert (choice.micro_batch, choice.grad_accum, choice.did_not_fit) == expected
    assert choice.effective_batch == 32 * grad_accum
    assert tried == [*expected[2], expected[0]]


def test_the_search_lets_other_errors_through():
    def fits(size):
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError):
        find_micro_batch(FitConfig(batch_size="auto"), fits)


def test_batch_choice_record_round_trips_and_refuses_damage():
    choice = BatchChoice(8, 4, True, (32, 16))
    assert BatchChoice.from_record(json.loads(json.dumps(choice.record()))) == choice
    assert BatchChoice.from_record({"micro_batch": "8", "grad_accum": 4}) is None
    assert BatchChoice.from_record(None) is None
