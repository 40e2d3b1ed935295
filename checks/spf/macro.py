"""SPF macro strings (RFC 7208 §7): parsing, domain-spec syntax, expansion. Pure functions.

A macro string is parsed once into tokens (:func:`parse_macro_string`); expansion
(:func:`expand`) takes the values of the macro letters as a :class:`MacroValues`.
The ``p`` letter needs DNS, so the caller resolves it first (:func:`uses_letter`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote

from checks.errors import ChecksError

__all__ = [
    "MacroExpand",
    "MacroSyntaxError",
    "MacroToken",
    "MacroValues",
    "check_domain_spec",
    "expand",
    "ip_macro_values",
    "parse_macro_string",
    "truncate_domain",
    "uses_letter",
]

MAX_DOMAIN_LENGTH = 253  # RFC 7208 §7.3, presentation form without the trailing dot

_DOMAIN_LETTERS = frozenset("slodipvh")
_EXPLAIN_ONLY_LETTERS = frozenset("crt")  # RFC 7208 §7.2: only in explanation strings
_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}")
_LDH = re.compile(r"[A-Za-z0-9-]+")
# Digit transformers keep the rightmost N parts: any N above the number of parts keeps them
# all, so N is capped (RFC 7208 §7.1 sets no limit, but int() refuses over 4300 digits).
_MAX_DIGITS = 1_000_000


class MacroSyntaxError(ChecksError):
    """A macro string or domain-spec that RFC 7208 §7.1 does not allow."""


@dataclass(frozen=True, slots=True)
class MacroExpand:
    """One ``%{...}`` macro: letter (lower case), url-escape flag, digits, reverse, delimiters."""

    letter: str
    escape: bool
    digits: int | None
    reverse: bool
    delimiters: str


MacroToken = str | MacroExpand
"""A literal run of text, or a macro to expand."""


@dataclass(frozen=True, slots=True)
class MacroValues:
    """The value of every macro letter for one evaluation (RFC 7208 §7.2)."""

    sender: str  # s
    local_part: str  # l
    sender_domain: str  # o
    domain: str  # d
    ip: str  # i: dotted quad, or dot-separated nibbles for IPv6
    validated_name: str  # p: "unknown" when there is none
    ip_version: str  # v: "in-addr" or "ip6"
    helo: str  # h
    client_ip: str  # c: the address in its usual text form
    receiver: str = "unknown"  # r
    timestamp: int = 0  # t

    def letter(self, letter: str) -> str:
        return {
            "s": self.sender,
            "l": self.local_part,
            "o": self.sender_domain,
            "d": self.domain,
            "i": self.ip,
            "p": self.validated_name,
            "v": self.ip_version,
            "h": self.helo,
            "c": self.client_ip,
            "r": self.receiver,
            "t": str(self.timestamp),
        }[letter]


def ip_macro_values(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, str, str]:
    """(i, v, c) for ``ip``: RFC 7208 §7.3 writes IPv6 ``i`` as dot-separated nibbles."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip), "in-addr", str(ip)
    return ".".join(ip.exploded.replace(":", "")), "ip6", str(ip)


def parse_macro_string(text: str, *, explanation: bool = False) -> tuple[MacroToken, ...]:
    """Tokens of a macro-string (or, with ``explanation``, an explain-string that may hold SP
    and the ``c``, ``r``, ``t`` letters).

    Raises:
        MacroSyntaxError: a character outside the visible ASCII range, a bare ``%``,
            an unknown or misplaced macro letter, or a zero digit transformer.
    """
    tokens: list[MacroToken] = []
    literal: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char != "%":
            if not (0x21 <= ord(char) <= 0x7E or (explanation and char == " ")):
                raise MacroSyntaxError(f"character {char!r} is not allowed in {text!r}")
            literal.append(char)
            pos += 1
            continue
        nxt = text[pos + 1 : pos + 2]
        if nxt in ("%", "_", "-"):
            literal.append({"%": "%", "_": " ", "-": "%20"}[nxt])
            pos += 2
            continue
        match = _MACRO.match(text, pos)
        if match is None:
            raise MacroSyntaxError(f"invalid macro at {text[pos : pos + 6]!r} in {text!r}")
        if literal:
            tokens.append("".join(literal))
            literal = []
        tokens.append(_macro_token(match, explanation=explanation))
        pos = match.end()
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens)


def _macro_token(match: re.Match[str], *, explanation: bool) -> MacroExpand:
    letter_text, digits, reverse, delimiters = match.groups()
    letter = letter_text.lower()
    allowed = _DOMAIN_LETTERS | (_EXPLAIN_ONLY_LETTERS if explanation else frozenset())
    if letter not in allowed:
        where = "here" if letter in _EXPLAIN_ONLY_LETTERS else "in SPF"
        raise MacroSyntaxError(f"macro letter {letter_text!r} is not allowed {where}")
    significant = digits.lstrip("0")
    if digits and not significant:
        raise MacroSyntaxError(f"zero digit transformer in {match.group(0)!r}")
    count = None
    if significant:
        fits = len(significant) <= len(str(_MAX_DIGITS))
        count = min(int(significant), _MAX_DIGITS) if fits else _MAX_DIGITS
    return MacroExpand(
        letter=letter,
        escape=letter_text.isupper(),
        digits=count,
        reverse=bool(reverse),
        delimiters=delimiters or ".",
    )


def check_domain_spec(text: str) -> tuple[MacroToken, ...]:
    """Parse a domain-spec: a macro-string ending in ``"." toplabel ["."]`` or in a macro.

    A domain-spec without macros must also be a usable DNS name (no empty label,
    labels of at most 63 octets, at most 253 octets).

    Raises:
        MacroSyntaxError: the text is not a domain-spec (RFC 7208 §7.1).
    """
    if not text:
        raise MacroSyntaxError("empty domain-spec")
    tokens = parse_macro_string(text)
    # "%%", "%_" and "%-" are macro-expands in the grammar, but parse as literals here.
    if isinstance(tokens[-1], MacroExpand) or text.endswith(("%%", "%_", "%-")):
        return tokens
    tail = tokens[-1]
    dot = tail.rstrip(".").rfind(".") if tail.endswith(".") else tail.rfind(".")
    if dot < 0 or not _is_toplabel(tail[dot + 1 :]):
        raise MacroSyntaxError(f"{text!r} does not end in a valid top-level label")
    if len(tokens) == 1 and not is_valid_name(tail):
        raise MacroSyntaxError(f"{text!r} is not a valid domain name")
    return tokens


def _is_toplabel(text: str) -> bool:
    """RFC 7208 §7.1 ``toplabel ["."]``, checked in linear time.

    toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ):
    an LDH label that either has no hyphen and a letter, or has a hyphen but neither
    starts nor ends with one. (A backtracking regex for this took O(n²) on long labels.)
    """
    label = text[:-1] if text.endswith(".") else text
    if not _LDH.fullmatch(label):
        return False
    if "-" in label:
        return label[0] != "-" and label[-1] != "-"
    return not label.isdigit()


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can be asked in DNS: ASCII, labels of 1-63 octets, <= 253 octets."""
    text = name[:-1] if name.endswith(".") else name
    if not text or len(text) > MAX_DOMAIN_LENGTH or not text.isascii():
        return False
    return all(0 < len(label) < 64 for label in text.split("."))


def uses_letter(tokens: tuple[MacroToken, ...], letter: str) -> bool:
    """Whether the tokens hold a macro with ``letter`` (e.g. ``p``, which costs DNS lookups)."""
    return any(isinstance(t, MacroExpand) and t.letter == letter for t in tokens)


def expand(tokens: tuple[MacroToken, ...], values: MacroValues) -> str:
    """Expand parsed macro tokens (RFC 7208 §7.3)."""
    return "".join(t if isinstance(t, str) else _expand_one(t, values) for t in tokens)


def _expand_one(macro: MacroExpand, values: MacroValues) -> str:
    value = values.letter(macro.letter)
    if macro.digits is not None or macro.reverse or macro.delimiters != ".":
        parts = re.split("[" + re.escape(macro.delimiters) + "]", value)
        if macro.reverse:
            parts.reverse()
        if macro.digits is not None:
            parts = parts[-macro.digits :]
        value = ".".join(parts)
    if macro.escape:
        # RFC 7208 §7.3: upper-case letters are URL-escaped (RFC 3986 unreserved kept).
        value = quote(value, safe="")
    return value


def truncate_domain(name: str) -> str:
    """RFC 7208 §7.3: drop labels from the left until the name fits in 253 characters."""
    trailing = "." if name.endswith(".") else ""
    text = name[:-1] if trailing else name
    while len(text) > MAX_DOMAIN_LENGTH and "." in text:
        text = text.split(".", 1)[1]
    return text + trailing
