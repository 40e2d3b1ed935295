"""Prometheus metrics on the daemon's own registry."""
