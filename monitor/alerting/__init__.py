"""Alerts: rules that turn states into observations, the outbox, the notifiers."""
