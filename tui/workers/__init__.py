"""The long work of TuneLab's screens, run in their thread workers: plain functions over `tunelab.core` that
return results (or raise TuneLabError), with no widget in sight; the screens post the results as messages."""
