"""Strict JSON for untrusted request bodies: one reading of a document, within stated limits.

``loads_strict`` refuses, with a stable ``reason`` (docs/reliability.md lists the limits):

- ``not_json``: not UTF-8 JSON text;
- ``duplicate_key``: an object names a key twice (parsers disagree on which one wins, so a
  signed body could be read one way by a verifier and another way by the consumer);
- ``too_deep``: arrays and objects nested more than ``MAX_DEPTH`` levels (the standard
  library would raise ``RecursionError`` at about a thousand, which is not a ``ValueError``);
- ``number_out_of_range``: ``NaN``/``Infinity``, a float that overflows to infinity, or an
  integer outside the signed 64-bit range (what a database column holds).
"""

from __future__ import annotations

import json
import math

from monitor.model.errors import ReasonedError

__all__ = ["MAX_DEPTH", "MAX_INT", "JsonRefused", "loads_strict"]

MAX_DEPTH = 64
MAX_INT = 2**63 - 1


class JsonRefused(ReasonedError, ValueError):  # noqa: N818 - a refusal, like WebhookRefused
    """A body ``loads_strict`` refuses; ``reason`` is one of the codes above. The message
    never quotes the body."""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise JsonRefused("duplicate_key", "a JSON object names the same key twice")
    return found


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("number_out_of_range", "a JSON number overflows")
    return value


def _int(text: str) -> int:
    # 20 characters hold any 64-bit integer with its sign; longer ones are refused before
    # the (quadratic) conversion.
    if len(text) > 20 or abs(value := int(text)) > MAX_INT:
        raise JsonRefused("number_out_of_range", "a JSON integer is out of the 64-bit range")
    return value


def _constant(_name: str) -> object:
    raise JsonRefused("number_out_of_range", "NaN and Infinity are not JSON numbers")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def loads_strict(data: bytes | str) -> object:
    """The one value of a JSON document, or a refusal.

    Raises:
        JsonRefused: not_json, duplicate_key, too_deep, number_out_of_range.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = _DECODER.decode(text)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError; it quotes input
        raise JsonRefused("not_json", "the body is not UTF-8 JSON") from None
    _check_depth(value)
    return value


def _check_depth(value: object) -> None:
    stack: list[tuple[dict[str, object] | list[object], int]] = []
    if isinstance(value, dict | list):
        stack.append((value, 1))
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonRefused("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
