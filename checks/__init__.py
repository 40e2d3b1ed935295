"""delivermon checks: pure logic over a small async DNS interface.

This package imports nothing from ``monitor``, aiohttp, prometheus_client,
apscheduler or any database (a unit test walks the imports to keep it so).
"""
