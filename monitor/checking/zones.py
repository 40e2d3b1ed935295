"""Choose the DNSBL zones for a run from the catalogue, custom zones, keys and overrides."""

from __future__ import annotations

from collections.abc import Sequence

from checks.dnsbl.catalogue import Catalogue, CatalogueError, ZoneSpec, generic_zone, parse_zone
from monitor.config import Config, CustomZoneConfig, resolve_secret
from monitor.model.errors import ConfigError

__all__ = ["select_zones"]


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
    custom = {}
    for entry in config.dnsbl.custom_zones:
        try:
            custom[entry.id.lower().rstrip(".")] = _custom_zone(entry)
        except CatalogueError as exc:
            problems.extend(f"dnsbl.custom_zones.{entry.id}: {p}" for p in exc.problems)
    names: Sequence[str]
    if override:
        names = override
    elif config.dnsbl.zones is not None:
        names = config.dnsbl.zones
    else:
        names = [z.id for z in catalogue.recommended()]
    zones: list[ZoneSpec] = []
    seen: set[str] = set()
    for name in names:
        wanted = name.lower().rstrip(".")
        zone = custom.get(wanted) or catalogue.get(wanted) or generic_zone(wanted)
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
    if problems:
        raise ConfigError(problems)
    return tuple(zones)


def _custom_zone(entry: CustomZoneConfig) -> ZoneSpec:
    data = entry.model_dump(exclude_none=True)
    data["code"] = data.pop("codes", [])
    data["error"] = data.pop("errors", [])
    return parse_zone(data, custom=True)
