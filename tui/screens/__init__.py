"""TuneLab's screens, one module each: models, data, train, runs and help here; evaluate, predict, attention and
check come from their own modules. The app (tui/app.py) registers each as a mode; `base.TuneLabScreen` gives
them the navigation line and the footer."""
