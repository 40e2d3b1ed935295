"""Unit tests: pure functions, no network and no DNS server."""
