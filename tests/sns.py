"""Amazon SNS as the SES webhook tests play it: the topic, its messages, and their signatures.

The messages are signed as SNS signs them (SignatureVersion 1: SHA1, 2: SHA256; RSA
PKCS#1 v1.5 over the "string to sign" of the message type's fields) with a key made at
test time (`certs.rsa_signer`), whose certificate the tests pin as `CERT_NAME`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:ses-feedback"
SNS_HOST = f"sns.{REGION}.amazonaws.com"
CERT_NAME = "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
CERT_URL = f"https://{SNS_HOST}/{CERT_NAME}"
TOKEN = "2336412f37fb687f5d51e6e2425f004aed"
SUBSCRIBE_URL = f"https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}"
# The shared corpus's SNS fixtures: their topic, and the test certificate they are signed with.
CORPUS_TOPIC = "arn:aws:sns:eu-west-1:111111111111:example-topic"
CORPUS_CERT_NAME = "SimpleNotificationService-a86cb10b4e1f29c941702d737128f7b6.pem"

# The fields of the string to sign, in order, per message type.
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


def notification(payload: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """An SNS Notification on `TOPIC` carrying `payload` (an SES event) as its Message."""
    return {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(payload),
        "Timestamp": "2026-11-20T10:00:01.000Z",
        **overrides,
    }


def subscription(**overrides: Any) -> dict[str, Any]:
    """SNS's SubscriptionConfirmation for `TOPIC`, pointing at `SUBSCRIBE_URL`."""
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": TOKEN,
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2026-11-20T10:00:01.000Z",
        **overrides,
    }


def sign(
    message: Mapping[str, Any],
    key: rsa.RSAPrivateKey,
    *,
    version: str = "2",
    cert_url: str = CERT_URL,
) -> dict[str, Any]:
    """`message` with SignatureVersion `version`, SigningCertURL `cert_url` and its Signature.

    A Notification signs `NOTIFICATION_FIELDS`, any other type `CONFIRMATION_FIELDS`,
    each field the message has.
    """
    signed = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    fields = NOTIFICATION_FIELDS if signed["Type"] == "Notification" else CONFIRMATION_FIELDS
    text = "".join(f"{f}\n{signed[f]}\n" for f in fields if f in signed)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # SNS v1 is SHA1
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed
