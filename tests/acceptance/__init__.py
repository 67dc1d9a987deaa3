"""Acceptance tests: the production path (gunicorn, worker, clock) driven from the outside."""
