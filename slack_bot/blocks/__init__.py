"""Pure Block Kit builders: task → blocks, task → modal. No I/O; every text is escaped and cut to fit."""
