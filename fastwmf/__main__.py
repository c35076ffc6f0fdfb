"""``python -m fastwmf``: the command line."""

from .cli import main

raise SystemExit(main())
