"""Microsoft Teams: Adaptive Card notices for reps, posted to a Workflows webhook."""
