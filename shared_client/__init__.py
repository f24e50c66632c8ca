"""uc-workflow: UltraCart Workflow tasks for AI assistants and Slack."""
