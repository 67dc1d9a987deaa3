"""Inbound webhooks (Messenger, Forms push): verify, store, answer fast."""
