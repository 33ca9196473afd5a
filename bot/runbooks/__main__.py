"""`python -m bot.runbooks [DIR]`: check runbook files without the bot; exit 1 on problems."""

import sys

from bot.runbooks.shelf import main

sys.exit(main())
