"""`python -m bot` runs the same command line as `newsbot`."""

from bot.cli import main

raise SystemExit(main())
