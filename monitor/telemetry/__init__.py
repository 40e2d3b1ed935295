"""Receiver telemetry: Gmail Postmaster Tools API v2 and Microsoft SNDS.

``gmail`` and ``snds`` parse the services' answers (pure); ``auth`` loads Google
credentials and gets tokens; ``gmailclient`` and ``sndsclient`` fetch over aiohttp with
retries; ``findings`` and ``views`` turn what is stored into findings, alerts' inputs
and risk inputs.
"""
