"""The Textual app: a view over tunelab.core."""
