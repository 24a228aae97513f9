"""TuneLab: a terminal workbench for fine-tuning and probing BERT-family encoders."""
__version__ = "0.1.0"
