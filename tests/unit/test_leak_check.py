"""The end-of-session leak check (tests/leaks.py, run by conftest.py) finds what it is for."""

from __future__ import annotations

import logging

import leaks
from conftest import _RECORDER


def test_a_secret_and_a_recipient_address_are_found() -> None:
    texts = [
        ("log", b"WARNING x refused token s3cret-token-value"),
        ("body", b'{"error": "bad recipient jane.doe@example.org"}'),
        ("clean", b'{"status": "ok", "from": "delivermon@example.com"}'),
        ("dmarc", b'{"record": "v=DMARC1; p=reject; rua=mailto:d@example.com"}'),
    ]
    problems = leaks.find_leaks(texts, {"s3cret-token-value"})
    assert [p.split(":")[0] for p in problems] == ["log", "body"]


def test_config_secrets_are_read_including_env() -> None:
    import os

    os.environ["DELIVERMON_TEST_LEAK_SECRET"] = "from-the-environment"
    try:
        doc = {
            "http": {
                "ingest_token": "ingest-token-1",
                "admin_token": "env:DELIVERMON_TEST_LEAK_SECRET",
            },
            "privacy": {"pseudonym_key": "0123456789abcdef"},
            "store": {"url": "postgresql://delivermon:store-password@db.example.com/dm"},
            "notify": [
                {"kind": "slack", "url": "https://hooks.example.com/T000/B000"},
                {"kind": "webhook", "url": "https://hooks.example.com/t/s3cr3t"},
                {"kind": "email", "password": "smtp-password"},
            ],
            "webhooks": {"postmark": {"username": "pm", "password": "pm-password"}},
        }
        assert set(leaks.secrets_of(doc)) == {
            "ingest-token-1",
            "from-the-environment",
            "0123456789abcdef",
            "https://hooks.example.com/T000/B000",
            "https://hooks.example.com/t/s3cr3t",
            "store-password",
            "smtp-password",
            "pm-password",
        }
    finally:
        del os.environ["DELIVERMON_TEST_LEAK_SECRET"]


def test_log_records_reach_the_recorder_with_their_extra_fields() -> None:
    before = len(_RECORDER.lines)
    logging.getLogger("monitor.test").warning("refused", extra={"reason": "x"})
    assert _RECORDER.lines[before:] == ["WARNING monitor.test refused {'reason': 'x'}"]
