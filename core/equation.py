"""gft-style equations that say which columns are the label and which are the inputs.

`classify: label ~ sentence1 + sentence2` reads "classify the column `label` from the inputs
`sentence1` and `sentence2`". Used by the data loader, the CLI and the run config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TuneLabError

# gft's keywords that TuneLab does not train yet, so the message is precise
KNOWN_UNSUPPORTED = ("classify_audio", "classify_images", "ctc")

_NAME = re.compile(r"^[^\W\d][\w.\-]*$")     # letters of any script (étiquette, 文), digits, _ . -


@dataclass(frozen=True)
class Equation:
    """A parsed equation: the task keyword, the output column(s) and one or two input columns."""

    task: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.outputs[0]

    @property
    def is_pair(self) -> bool:
        return len(self.inputs) == 2

    def __str__(self) -> str:
        return f"{self.task}: {' + '.join(self.outputs)} ~ {' + '.join(self.inputs)}"


def parse_equation(text: str) -> Equation:
    """Parse `task: y ~ x1 [+ x2]`; raise TuneLabError naming what is wrong."""
    if ":" not in text or "~" not in text:
        raise TuneLabError(
            f"equation {text!r} is not of the form 'task: label ~ input [+ input2]', "
            "e.g. 'classify: label ~ sentence'"
        )
    from .tasks.base import canonical_keyword, keywords, task_for

    word, rest = (part.strip() for part in text.split(":", 1))
    task = canonical_keyword(word)
    if task is None:
        if word in KNOWN_UNSUPPORTED:
            raise TuneLabError(f"task {word!r} is not supported yet; use one of: {', '.join(keywords())}")
        raise TuneLabError(f"unknown task keyword {word!r}; use one of: {', '.join(keywords())}")
    lhs, _, rhs = rest.partition("~")
    outputs = tuple(p.strip() for p in lhs.split("+"))
    inputs = tuple(p.strip() for p in rhs.split("+"))
    for name in outputs + inputs:
        if not _NAME.match(name):
            why = (" (an equation cannot name a column with spaces in it; rename the column, or read a headerless "
                   "file with --columns)") if " " in name else ""
            raise TuneLabError(f"equation {text!r}: {name!r} is not a column name{why}")
    task_for(task).check_equation(text, outputs, inputs)
    if outputs[0] in inputs:
        raise TuneLabError(
            f"equation {text!r}: the label {outputs[0]!r} is also an input, so the model would read the answer; "
            "name the text column(s) after '~'"
        )
    if len(set(inputs)) != len(inputs):
        raise TuneLabError(f"equation {text!r}: input {inputs[0]!r} is named twice; a pair needs two different columns")
    return Equation(task=task, outputs=outputs, inputs=inputs)
