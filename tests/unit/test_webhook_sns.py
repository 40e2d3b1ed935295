"""SNS verification (pinned certificates, cert URL, topic) and the SubscribeURL SSRF guard.

Messages are signed at test time with a generated RSA key and self-signed certificate
standing in for SNS's; the string-to-sign is written out here independently of the code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sns
from certs import rsa_signer
from corpus import corpus_params
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sns import CERT_NAME, CERT_URL, CORPUS_CERT_NAME, CORPUS_TOPIC, REGION, SUBSCRIBE_URL, TOPIC

from monitor.ingest.webhooks import (
    AuthenticityRefused,
    MalformedPayload,
    PinnedCertificates,
    Reason,
    SesVerifier,
    SnsType,
    UnsafeConfirmation,
    WebhookConfigError,
    confirmation_url,
    handle_ses,
    verify_sns,
)
from monitor.model.events import EventType

BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "someone@gmail.com", "status": "5.1.1"}],
        "timestamp": "2026-11-20T10:00:00.000Z",
        "feedbackId": "0100-feedback-1",
    },
    "mail": {"timestamp": "2026-11-20T09:59:58.000Z", "messageId": "0100-mail-1"},
}


@pytest.fixture(scope="module")
def signer() -> tuple[rsa.RSAPrivateKey, bytes]:
    return rsa_signer()


@pytest.fixture(scope="module")
def certificates(signer: tuple[rsa.RSAPrivateKey, bytes]) -> PinnedCertificates:
    return PinnedCertificates.from_pem({CERT_NAME: signer[1]})


Sign = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def sign(signer: tuple[rsa.RSAPrivateKey, bytes]) -> Sign:
    def sign(message: dict[str, Any], *, key: Any = None, **options: str) -> dict[str, Any]:
        return sns.sign(message, key or signer[0], **options)

    return sign


def notification(**overrides: Any) -> dict[str, Any]:
    return sns.notification(BOUNCE, **overrides)


def config(certificates: PinnedCertificates, **overrides: Any) -> SesVerifier:
    return SesVerifier(
        topic_arns=frozenset(overrides.pop("topic_arns", {TOPIC})),
        certificates=certificates,
        **overrides,
    )


def refused(reason: Reason, call: Callable[[], object]) -> None:
    with pytest.raises((AuthenticityRefused, MalformedPayload, UnsafeConfirmation)) as caught:
        call()
    assert caught.value.reason is reason


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_notification_becomes_ses_events(
    sign: Sign, certificates: PinnedCertificates, version: str
) -> None:
    body = json.dumps(sign(notification(), version=version)).encode()
    outcome = handle_ses(body, config=config(certificates))
    assert outcome.message.type is SnsType.NOTIFICATION
    assert [e.type for e in outcome.events] == [EventType.BOUNCE]
    assert outcome.confirm_url is None


def test_notification_without_subject_is_signed_without_it(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    message = notification()
    del message["Subject"]
    outcome = handle_ses(json.dumps(sign(message)).encode(), config=config(certificates))
    assert len(outcome.events) == 1


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "Subject", "TopicArn"])
def test_tampered_signed_field_is_bad_signature(
    sign: Sign, certificates: PinnedCertificates, field: str
) -> None:
    message = sign(notification())
    message[field] += "x"
    assert message != sign(notification())
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(message, topic_arns={message["TopicArn"]}, certificates=certificates),
    )


def test_added_subject_is_bad_signature(sign: Sign, certificates: PinnedCertificates) -> None:
    message = notification()
    del message["Subject"]
    signed = {**sign(message), "Subject": "injected"}
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(signed, topic_arns={TOPIC}, certificates=certificates),
    )


def test_notification_relabelled_as_confirmation_is_refused(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    # The Type picks the string-to-sign; a notification has no SubscribeURL/Token to sign.
    message = {**sign(notification()), "Type": "UnsubscribeConfirmation"}
    refused(
        Reason.MALFORMED,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


def test_signature_by_another_key_is_bad_signature(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = sign(notification(), key=other)
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


def test_v1_signature_claimed_as_v2_is_bad_signature(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    message = {**sign(notification(), version="1"), "SignatureVersion": "2"}
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


@pytest.mark.parametrize("version", ["3", "0", 2, "", None])
def test_unknown_signature_version_is_refused(
    sign: Sign, certificates: PinnedCertificates, version: object
) -> None:
    message = {**sign(notification()), "SignatureVersion": version}
    refused(
        Reason.UNSUPPORTED_SIGNATURE_VERSION,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


def test_signature_not_base64_is_bad_signature(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    message = {**sign(notification()), "Signature": "!!not base64!!"}
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


def test_foreign_topic_is_refused_even_when_signed(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    body = json.dumps(sign(notification())).encode()
    refused(
        Reason.FOREIGN_TOPIC,
        lambda: handle_ses(body, config=config(certificates, topic_arns={TOPIC + "-other"})),
    )
    refused(
        Reason.FOREIGN_TOPIC, lambda: handle_ses(body, config=config(certificates, topic_arns=()))
    )


def test_unsigned_raw_ses_notification_is_refused(certificates: PinnedCertificates) -> None:
    refused(
        Reason.UNSIGNED,
        lambda: handle_ses(json.dumps(BOUNCE).encode(), config=config(certificates)),
    )


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'"text"', json.dumps({"Type": "Notification"}).encode()]
)
def test_non_sns_bodies_are_refused(certificates: PinnedCertificates, body: bytes) -> None:
    with pytest.raises((MalformedPayload, AuthenticityRefused)):
        handle_ses(body, config=config(certificates))


def test_unknown_type_is_malformed(sign: Sign, certificates: PinnedCertificates) -> None:
    message = {**sign(notification()), "Type": "Surprise"}
    refused(
        Reason.MALFORMED, lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates)
    )


def test_stale_message_is_refused_when_a_max_age_is_set(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    body = json.dumps(sign(notification())).encode()
    later = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)
    cfg = config(certificates, max_age=dt.timedelta(hours=1))
    refused(Reason.STALE_TIMESTAMP, lambda: handle_ses(body, config=cfg, now=later))
    assert handle_ses(body, config=config(certificates), now=later).events  # no max_age: kept


# --- certificate URL and pinning ----------------------------------------------------------

LOOK_ALIKES = [
    f"http://sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com.evil.test/{CERT_NAME}",
    f"https://evil.test/sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com@evil.test/{CERT_NAME}",
    f"https://user@sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com:8443/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com:443/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com\\@evil.test/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com./{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com.cn/{CERT_NAME}",
    f"https://SNS.{REGION.upper()}.AMAZONAWS.COM/{CERT_NAME}",
    f"https://sns-{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://evilsns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sqs.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.co/{CERT_NAME}",
    f"https://sns.eu-west-1.amazonaws.com/{CERT_NAME}",  # not the topic's region
    f"https://sns%2E{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://sns.{REGION}.amazonaws.com/{CERT_NAME}?x=1",
    f"https://sns.{REGION}.amazonaws.com/{CERT_NAME}#frag",
    f"https://sns.{REGION}.amazonaws.com/{CERT_NAME[:-4]}.txt",
    f"https://sns.{REGION}.amazonaws.com/%2e%2e/{CERT_NAME}",
    f" https://sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"ftp://sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"//sns.{REGION}.amazonaws.com/{CERT_NAME}",
    f"https://[::1]/{CERT_NAME}",
    f"https://169.254.169.254/{CERT_NAME}",
    "",
]


@pytest.mark.parametrize("url", LOOK_ALIKES, ids=range(len(LOOK_ALIKES)))
def test_untrusted_certificate_urls_are_refused(
    sign: Sign, certificates: PinnedCertificates, url: str
) -> None:
    # The same certificate *name* is pinned, so only the URL check can refuse these.
    message = sign(notification(), cert_url=url)
    refused(
        Reason.UNTRUSTED_CERT_URL if url else Reason.MALFORMED,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=certificates),
    )


def test_china_partition_certificate_host_is_accepted(
    signer: tuple[rsa.RSAPrivateKey, bytes], sign: Sign
) -> None:
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:ses-feedback"
    url = f"https://sns.cn-north-1.amazonaws.com.cn/{CERT_NAME}"
    message = sign(notification(TopicArn=topic), cert_url=url)
    pinned = PinnedCertificates.from_pem({CERT_NAME: signer[1]})
    assert verify_sns(message, topic_arns={topic}, certificates=pinned).region == "cn-north-1"


def test_unpinned_certificate_is_refused_and_never_fetched(sign: Sign) -> None:
    _, other_pem = rsa_signer()
    pinned = PinnedCertificates.from_pem({"SimpleNotificationService-other.pem": other_pem})
    message = sign(notification())
    refused(
        Reason.UNKNOWN_CERTIFICATE,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=pinned),
    )
    refused(
        Reason.UNKNOWN_CERTIFICATE,
        lambda: verify_sns(message, topic_arns={TOPIC}, certificates=PinnedCertificates({})),
    )


def test_certificate_pinned_by_full_url_or_file_name(
    tmp_path: Path, signer: tuple[rsa.RSAPrivateKey, bytes], sign: Sign
) -> None:
    (tmp_path / CERT_NAME).write_bytes(signer[1])
    (tmp_path / "any-name.pem").write_bytes(signer[1])
    message = sign(notification())
    for pinned in (
        PinnedCertificates.from_files([tmp_path / CERT_NAME]),
        PinnedCertificates.from_files(named={CERT_URL: tmp_path / "any-name.pem"}),
        PinnedCertificates.from_files(named={CERT_NAME: str(tmp_path / "any-name.pem")}),
    ):
        assert verify_sns(message, topic_arns={TOPIC}, certificates=pinned).topic_arn == TOPIC


def test_unusable_certificate_files_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(WebhookConfigError):
        PinnedCertificates.from_files([tmp_path / "junk.pem"])
    with pytest.raises(WebhookConfigError):
        PinnedCertificates.from_files([tmp_path / "missing.pem"])


# --- SubscriptionConfirmation and the SubscribeURL ----------------------------------------


def test_confirmation_returns_the_checked_subscribe_url(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    outcome = handle_ses(json.dumps(sign(sns.subscription())).encode(), config=config(certificates))
    assert outcome.confirm_url == SUBSCRIBE_URL
    assert outcome.events == ()
    assert SUBSCRIBE_URL not in repr(outcome)


def test_unsubscribe_confirmation_yields_nothing(
    sign: Sign, certificates: PinnedCertificates
) -> None:
    message = sign(sns.subscription(Type="UnsubscribeConfirmation"))
    outcome = handle_ses(json.dumps(message).encode(), config=config(certificates))
    assert (outcome.events, outcome.confirm_url) == ((), None)
    refused(Reason.NOT_A_CONFIRMATION, lambda: confirmation_url(outcome.message))


def test_notification_is_not_a_confirmation(sign: Sign, certificates: PinnedCertificates) -> None:
    verified = verify_sns(sign(notification()), topic_arns={TOPIC}, certificates=certificates)
    refused(Reason.NOT_A_CONFIRMATION, lambda: confirmation_url(verified))


HOST = f"sns.{REGION}.amazonaws.com"
QUERY = f"Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
UNSAFE_SUBSCRIBE_URLS = [
    f"https://169.254.169.254/latest/meta-data/?{QUERY}",
    f"https://evil.test/?{QUERY}",
    f"https://{HOST}.evil.test/?{QUERY}",
    f"http://{HOST}/?{QUERY}",
    f"https://{HOST}:8443/?{QUERY}",
    f"https://user@{HOST}/?{QUERY}",
    f"https://{HOST}@evil.test/?{QUERY}",
    f"https://sns.eu-west-1.amazonaws.com/?{QUERY}",  # another region than the topic's
    f"https://{HOST}/redirect?{QUERY}",
    f"https://{HOST}/?Action=Unsubscribe&TopicArn={TOPIC}&Token=abc",
    f"https://{HOST}/?Action=Publish&TopicArn={TOPIC}&Token=abc",
    f"https://{HOST}/?Action=ConfirmSubscription&Action=Publish&TopicArn={TOPIC}&Token=abc",
    f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}-other&Token=abc",
    f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}",
    f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=",
    f"https://{HOST}/?{QUERY}#x",
    f"https://{HOST}\\@evil.test/?{QUERY}",
    f"gopher://{HOST}/?{QUERY}",
]


@pytest.mark.parametrize("url", UNSAFE_SUBSCRIBE_URLS, ids=range(len(UNSAFE_SUBSCRIBE_URLS)))
def test_unsafe_subscribe_urls_are_refused(
    sign: Sign, certificates: PinnedCertificates, url: str
) -> None:
    body = json.dumps(sign(sns.subscription(SubscribeURL=url))).encode()
    refused(Reason.UNTRUSTED_SUBSCRIBE_URL, lambda: handle_ses(body, config=config(certificates)))


# --- the corpus's real signed SubscriptionConfirmation ------------------------------------


@pytest.mark.parametrize(
    "path", corpus_params("webhooks/sns/sns-subscription-confirmation-valid-signature*.json")
)
def test_corpus_confirmation_verifies_with_its_test_certificate(
    corpus_dir: Path, path: Path
) -> None:
    (pem,) = (corpus_dir / "webhooks" / "sns").glob("test-signing-certificate*.pem")
    pinned = PinnedCertificates.from_files(named={CORPUS_CERT_NAME: pem})
    message = json.loads(path.read_bytes())
    verified = verify_sns(message, topic_arns={CORPUS_TOPIC}, certificates=pinned)
    assert verified.type is SnsType.SUBSCRIPTION_CONFIRMATION
    assert confirmation_url(verified) == message["SubscribeURL"]
    tampered = {**message, "Token": message["Token"][:-1] + "2"}
    refused(
        Reason.BAD_SIGNATURE,
        lambda: verify_sns(tampered, topic_arns={CORPUS_TOPIC}, certificates=pinned),
    )


_RSA_KEY_INFO = bytes.fromhex("2a864886f70d0101010500")  # rsaEncryption OID, NULL


def _unknown_algorithm(der: bytes) -> bytes:
    assert der.count(_RSA_KEY_INFO) == 1
    return der.replace(_RSA_KEY_INFO, bytes.fromhex("2a864886f70d01017f0500"))


def _broken_key(der: bytes) -> bytes:
    # After the algorithm: BIT STRING (03, length, 00 unused bits), then the RSA key's
    # SEQUENCE (30), whose tag becomes an INTEGER's (02).
    at = der.index(_RSA_KEY_INFO) + len(_RSA_KEY_INFO)
    assert der[at] == 0x03
    tag = der.index(b"\x00\x30", at) + 1
    return der[:tag] + b"\x02" + der[tag + 1 :]


@pytest.mark.parametrize("mutate", [_unknown_algorithm, _broken_key], ids=["unknown", "broken"])
def test_a_certificate_whose_key_cannot_be_read_is_a_config_error(
    signer: tuple[rsa.RSAPrivateKey, bytes], mutate: Callable[[bytes], bytes]
) -> None:
    # Found by the hostile-input test on mutated corpus certificates: cryptography raised
    # UnsupportedAlgorithm from public_key(), past the documented WebhookConfigError.
    der = x509.load_pem_x509_certificate(signer[1]).public_bytes(serialization.Encoding.DER)
    body = base64.encodebytes(mutate(der)).decode()
    broken = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()
    with pytest.raises(WebhookConfigError, match="not an RSA certificate"):
        PinnedCertificates.from_pem({CERT_NAME: broken})
