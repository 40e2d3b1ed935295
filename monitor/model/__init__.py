"""The shared domain model: errors, events, privacy, alert values, hosts."""
