"""Finding codes of the DKIM key (checks/dkim) checks."""

_REPUBLISH = (
    "Publish the key record your signer's private key belongs to, as one TXT record "
    "'v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>' (most DNS consoles and ESPs show the "
    "exact text to paste); check it with `delivermon check DOMAIN --selector SEL`."
)

CODES: dict[str, tuple[str, str]] = {
    "dkim.missing": (
        "There is no key record at <selector>._domainkey.<domain> (NXDOMAIN or no TXT "
        "record), so every signature made with this selector fails verification. If the "
        "name is a CNAME to an ESP whose target is gone, the detail names the target.",
        "Publish the selector's key record, or stop signing with this selector and remove "
        "it from the configuration. For an ESP selector, re-create the CNAME the ESP shows.",
    ),
    "dkim.multiple_records": (
        "More than one TXT record at the selector name. RFC 6376 §3.6.2.2: the result is "
        "undefined, so verifiers may pick either record and signatures fail at random.",
        "Keep exactly one TXT record at the selector name; for a key rotation use a new "
        "selector instead of a second record.",
    ),
    "dkim.revoked": (
        "The key record has an empty p= tag: the key is revoked (RFC 6376 §3.6.1), so every "
        "signature with this selector fails.",
        "If the selector is still used for signing, publish its current public key or move "
        "the signer to a selector with a live key.",
    ),
    "dkim.testing": (
        "The key record carries t=y (testing). RFC 6376 §3.6.1: verifiers MUST NOT treat "
        "mail signed with it differently from unsigned mail, so it earns no DKIM credit.",
        "Remove 'y' from the t= tag once signing works (keep t=s if you want it).",
    ),
    "dkim.strict_subdomain": (
        "The key record carries t=s: the signature's i= domain must equal d= exactly, so "
        "signatures whose i= is a subdomain of d= fail. Informational.",
        "Nothing to do unless your signer sets i= to a subdomain; then drop 's' from t=.",
    ),
    "dkim.unknown_key_type": (
        "The k= tag names a key type other than rsa or ed25519 (RFC 6376 §3.6.1, RFC 8463). "
        "Verifiers ignore the record, so signatures fail.",
        "Set k=rsa (or k=ed25519 for an Ed25519 key); k= is not the signature algorithm "
        "(write 'ed25519', not 'ed25519-sha256').",
    ),
    "dkim.unsupported_hash": (
        "The h= tag lists no sha256. The signature's hash must be in h=, and RFC 8301 forbids "
        "verifiers to accept rsa-sha1, so no signature made with this key can pass: an "
        "error, not a warning.",
        "Remove the h= tag (it defaults to all hashes) or set h=sha256.",
    ),
    "dkim.malformed_record": (
        "The key record does not parse as an RFC 6376 §3.2 tag list (a tag without '=', a "
        "duplicate tag), has a v= other than DKIM1, or has no p= tag. Verifiers discard it.",
        _REPUBLISH,
    ),
    "dkim.malformed_key": (
        "The p= value is not a usable public key: invalid or truncated base64, DER that is "
        "not an RSA public key, or an Ed25519 key that is not the raw 32-byte point RFC 8463 "
        "§4.2 requires (e.g. wrapped in SubjectPublicKeyInfo).",
        "Re-export the public key from the signer's private key and publish it whole; when "
        "splitting a long key over several TXT strings, do not lose or add characters.",
    ),
    "dkim.key_too_short": (
        "The RSA key is shorter than 1024 bits. RFC 8301 §3.2 forbids verifiers to accept "
        "it and Gmail requires at least 1024 bits, so its signatures count for nothing.",
        "Generate a 2048-bit key under a new selector, publish it, switch the signer, then "
        "revoke the old selector (empty p=).",
    ),
    "dkim.key_weak": (
        "The RSA key has fewer than 2048 bits. It is still accepted (Gmail's minimum is 1024) "
        "but 2048 is the recommended size and 1024-bit keys are within reach of factoring.",
        "Rotate to a 2048-bit key under a new selector.",
    ),
    "dkim.key_oversized": (
        "The RSA key is longer than 4096 bits. RFC 8301 §3.2 only requires verifiers to "
        "handle 1024-4096 bits; larger keys may fail verification at some receivers, and the "
        "record needs DNS over TCP or EDNS.",
        "Use a 2048-bit (or at most 4096-bit) key.",
    ),
    "dkim.rsa_key_not_spki": (
        "p= holds a bare PKCS#1 RSAPublicKey rather than a SubjectPublicKeyInfo. RFC 6376 "
        "§3.6.1 words it that way, but deployed verifiers (OpenDKIM, Go's msgauth before its "
        "fix) parse only SubjectPublicKeyInfo (erratum 3017), so signatures may fail there.",
        "Publish the key in SubjectPublicKeyInfo form (`openssl rsa -pubout` output, the "
        "'MIIB...' / 'MIGf...' base64).",
    ),
    "dkim.service_not_email": (
        "The s= tag does not include 'email' or '*' (e.g. s=tlsrpt); RFC 6376 §3.6.1: the "
        "key does not apply to e-mail and verifiers ignore it for mail signatures.",
        "Remove the s= tag or set s=email, or use a separate selector for the other service.",
    ),
    "dkim.version_not_first": (
        "The record has v=DKIM1 but not as the first tag, which RFC 6376 §3.6.1 requires; "
        "strict verifiers may discard it.",
        "Move v=DKIM1 to the start of the record.",
    ),
    "dkim.ed25519_only": (
        "The selector has an Ed25519 key (RFC 8463) and no configured selector has a usable "
        "RSA key. Receivers that do not verify Ed25519 yet see the mail as unsigned, so it "
        "fails DKIM (and DMARC via DKIM) there: a warning, not info.",
        "Dual-sign: add an RSA 2048-bit selector and sign every message with both keys.",
    ),
    "dkim.lookup_failed": (
        "The key record could not be fetched (timeout, SERVFAIL, REFUSED, network error). "
        "The result is unknown, never 'missing'.",
        "Check the resolver and the authoritative servers of the domain (and of the CNAME "
        "target's zone if the selector is delegated to an ESP).",
    ),
    "dkim.cname_loop": (
        "The selector's name is a CNAME chain that never ends in a record: a loop (a CNAME "
        "pointing back to itself through others) or a chain longer than the resolver follows. "
        "Every answer arrived, so this is the zone's data, not a network failure: no "
        "receiver can fetch the key, and signatures with it do not verify.",
        "Point the selector's CNAME at the ESP's key record (the target the ESP documents), "
        "or publish the key as a TXT record at the selector's name.",
    ),
}
