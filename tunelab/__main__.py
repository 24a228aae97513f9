"""`python -m tunelab` runs the CLI."""
from tunelab.cli import main

raise SystemExit(main())
