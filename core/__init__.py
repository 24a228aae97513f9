"""The engine: models, data, training, evaluation, prediction, attention, probes. Imports no UI."""
