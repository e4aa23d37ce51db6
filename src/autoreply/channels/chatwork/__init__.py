"""Chatwork: notices for reps as Chatwork messages, posted with the REST API v2."""
