"""The aiohttp application: ingestion routes now, the rest of the daemon's API later."""
