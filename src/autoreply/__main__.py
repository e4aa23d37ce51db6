"""Run the command line as ``python -m autoreply``."""

from autoreply.cli import main

raise SystemExit(main())
