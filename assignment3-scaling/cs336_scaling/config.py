"""Config resolution for run-creating commands: dataclass defaults < `--config` TOML < `--set key=value` (style §2.4).

uv run cs336-scaling plan --embedded --config configs/plan_debug_cpu.toml --set n_levels=3 --dry-run
"""

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from cs336_scaling.errors import ConfigError

T = TypeVar("T")


def _coerce(cls: type, key: str, value: Any) -> Any:
    hint = typing.get_type_hints(cls)[key]
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} expects a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(float(v) if inner is float else inner(v) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{key} expects {hint.__name__}, got {value!r} ({type(value).__name__})")
    return value


def resolve_config(cls: type[T], path: Path | None = None, sets: list[str] | None = None, section: str = "") -> T:
    """Build `cls` from a TOML file (optionally one `[section]`) and `key=value` overrides parsed as TOML literals."""
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        values.update(data.get(section, data) if section else data)
    for item in sets or []:
        key, sep, literal = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            values[key.strip()] = tomllib.loads(f"v = {literal}")["v"]
        except tomllib.TOMLDecodeError:
            values[key.strip()] = literal  # a bare word is a string
    unknown = set(values) - fields
    if unknown:
        raise ConfigError(f"unknown config key(s) {sorted(unknown)}; valid keys: {sorted(fields)}")
    return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})
