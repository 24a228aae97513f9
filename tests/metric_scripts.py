"""A metric script that touches a marker when evaluate.load runs it (tests of where --metric may load code)."""


METRIC_SCRIPT = '''
import pathlib
pathlib.Path({marker!r}).touch()
import datasets
import evaluate


class Precision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="", citation="", features=datasets.Features(
            {{"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}}))

    def _compute(self, predictions, references):
        return {{"precision": 0.25}}
'''


def plant_metric(directory, name: str):
    marker = directory / "metric-ran"
    (directory / name).mkdir()
    (directory / name / f"{name}.py").write_text(METRIC_SCRIPT.format(marker=str(marker)))
    return marker
