"""Slack: Block Kit notices for reps, posted to an incoming webhook."""
