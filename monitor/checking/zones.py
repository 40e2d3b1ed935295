"""Choose the DNSBL zones for a run from the catalogue, custom zones, keys and overrides."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence

from checks.dnsbl.catalogue import (
    Catalogue,
    CatalogueError,
    ZoneSpec,
    generic_zone,
    parse_zone,
    zone_name,
)
from monitor.config import Config, CustomZoneConfig, resolve_secret
from monitor.model.errors import ConfigError

__all__ = ["select_zones"]

log = logging.getLogger(__name__)


def select_zones(
    config: Config, catalogue: Catalogue, override: Sequence[str] | None = None
) -> tuple[ZoneSpec, ...]:
    """The zones to query, keys filled in.

    ``override`` (``--zone``) replaces the configured set. A name that is
    neither a custom zone nor in the catalogue is a generic IPv4 list (RFC 5782).

    Raises:
        ConfigError: a custom zone is invalid or a keyed zone has no key.
    """
    problems: list[str] = []
    custom: dict[str, ZoneSpec] = {}
    for entry in config.dnsbl.custom_zones:
        try:
            zone = _custom_zone(entry)
        except CatalogueError as exc:
            problems.extend(f"dnsbl.custom_zones.{entry.id}: {p}" for p in exc.problems)
            continue
        if zone.id in custom:
            problems.append(f"dnsbl.custom_zones: {zone.id} is defined twice")
        custom[zone.id] = zone
        if (listed := catalogue.get(zone.id)) is not None:
            log.warning(
                "custom zone %s replaces the catalogue's entry of that name (%s list there, "
                "%s list here)",
                zone.id,
                listed.kind.value,
                zone.kind.value,
            )
    names: Sequence[str]
    if override:
        names = override
    elif config.dnsbl.zones is not None:
        names = config.dnsbl.zones
    else:
        names = [z.id for z in catalogue.recommended()]
    known = {z.id for z in catalogue.zones} | set(custom)
    zones: list[ZoneSpec] = []
    seen: set[str] = set()
    for name in names:
        wanted = zone_name(name, f"dnsbl.zones: {name!r}", problems)
        found = custom.get(wanted) or catalogue.get(wanted)
        if found is None:
            found = generic_zone(wanted)
            if hint := _hint(wanted, (z.id for z in catalogue.zones)):
                # Allowed (any RFC 5782 list can be asked), but most likely a typo.
                log.warning(
                    "zone %s is not in the catalogue: asked as a generic IPv4 list%s",
                    wanted,
                    hint,
                )
        known.add(wanted)
        zone = found
        if zone.id in seen:
            continue
        seen.add(zone.id)
        if zone.requires_key:
            key = resolve_secret(config.dnsbl.keys.get(zone.key_name, "")) or ""
            if not key:
                problems.append(
                    f"dnsbl: zone {zone.id} needs a key: set [dnsbl.keys] {zone.key_name} "
                    f'(e.g. "env:DELIVERMON_{zone.key_name.upper()}_KEY")'
                )
                continue
            try:
                zone = zone.with_key(key)
            except CatalogueError as exc:
                problems.extend(exc.problems)
                continue
        zones.append(zone)
    asked = set(config.dnsbl.zones) if config.dnsbl.zones is not None else set()
    for unused in sorted(set(custom) - {z.id for z in zones} - asked):
        if not override:
            log.warning("custom zone %s is not in [dnsbl] zones: it is never asked", unused)
    _named_settings(config, catalogue, known, problems)
    if problems:
        raise ConfigError(problems)
    return tuple(zones)


def _named_settings(
    config: Config, catalogue: Catalogue, zones: set[str], problems: list[str]
) -> None:
    """Settings keyed by a zone's or a key's name: a name nothing uses is a typo that
    would silently disable the setting."""
    for name in config.dns.rate_limits:
        if name not in zones:  # the config keeps zone names in lower case, no final dot
            problems.append(
                f"dns.rate_limits: {name!r} is no zone delivermon knows (the catalogue, "
                f"[[dnsbl.custom_zones]], [dnsbl] zones){_hint(name, zones)}"
            )
    keys = {z.key_name for z in catalogue.zones if z.key_name}
    for name in config.dnsbl.keys:
        if name not in keys:
            problems.append(
                f"dnsbl.keys: {name!r} is no key a zone uses (known: {', '.join(sorted(keys))})"
                f"{_hint(name, keys)}"
            )


def _hint(name: str, known: Iterable[str]) -> str:
    # Close: a letter or two off (0.6, difflib's default, took bl.example.net for
    # bl.spamcop.net).
    close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.85)
    return f"; did you mean {close[0]!r}?" if close else ""


def _custom_zone(entry: CustomZoneConfig) -> ZoneSpec:
    data = entry.model_dump(exclude_none=True)
    data["code"] = data.pop("codes", [])
    data["error"] = data.pop("errors", [])
    return parse_zone(data, custom=True)
