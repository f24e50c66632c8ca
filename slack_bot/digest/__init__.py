"""The daily digest (``/task digest on|off|HH:MM``): one DM a day at the member's local time with their
overdue tasks, those due today and those newly assigned, read from the change feed's snapshot (no UltraCart
call); App Home shows the same lists.

- :mod:`slack_bot.digest.store`: each member's setting and the claim of each (member, local date) digest;
- :mod:`slack_bot.digest.lists`: what the three lists hold (from the feed, or from App Home's search);
- :mod:`slack_bot.digest.sender`: :class:`~slack_bot.digest.sender.Digests`, the feed's consumer that sends
  the digests that are due;
- :mod:`slack_bot.digest.command`: ``/task digest``.

Nothing is imported here: :mod:`slack_bot.store` imports the table module and :mod:`slack_bot.deps` the
store, which must not pull in the rest (it imports ``deps``).
"""
