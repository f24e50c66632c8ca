import sys

from slack_bot.cli import main

sys.exit(main())
