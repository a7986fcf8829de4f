"""``python -m bot.cli``: the same as the ``bot`` command."""

from bot.cli import main

raise SystemExit(main())
