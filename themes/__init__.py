"""Textual themes shipped with TuneLab."""
