"""Notifications from the change feed (:mod:`shared_client.feed`): DMs to assignees, channel subscriptions
with threaded updates, each sent exactly once (an outbox in the deployment's database).

Light on purpose (:mod:`slack_bot.store` imports :mod:`slack_bot.notify.tables`): import the pieces from
their modules: :mod:`.notifier` (``Notifier``, the feed's consumer), :mod:`.subscriptions`,
:mod:`.writes` (what Slack members changed themselves), :mod:`.commands` (``/task subscribe`` …).
"""
