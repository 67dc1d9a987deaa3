"""Adapters to the outside world, each behind a small interface (see ports.py)."""
