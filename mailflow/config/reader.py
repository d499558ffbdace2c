"""Reading one TOML table: types checked, unknown keys refused, every error naming its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailflow.config.model import Secret
from mailflow.errors import AddressError, ConfigError
from mailflow.mail import addresses


class _Section:
    """Reads one TOML table, checking types and remembering which keys were used."""

    def __init__(self, data: Any, name: str, base: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a table")
        self.data: dict[str, Any] = data
        self.name = name
        self.base = base
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type, default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        # bool is an int in Python; a port of `true` is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.key(key), f"must be {_type_name(kind)}, got {value!r}")
        return value

    def text(self, key: str, default: str = "") -> str:
        return str(self.get(key, str, default)).strip()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(self.key(key), f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = int(self.get(key, int, default))
        if not low <= value <= high:
            raise ConfigError(self.key(key), f"must be an integer between {low} and {high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A number above ``low`` and at most ``high`` (an integer is a number too)."""
        self.used.add(key)
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            raise ConfigError(self.key(key), f"must be a number above {low} and at most {high}")
        return float(value)

    def path(self, key: str, default: str) -> Path:
        raw = self.text(key, default)
        if not raw:
            raise ConfigError(self.key(key), "must not be empty")
        return _resolve(self.base, raw)

    def optional_path(self, key: str) -> Path | None:
        raw = self.text(key, "")
        return _resolve(self.base, raw) if raw else None

    def secret(self, key: str, default_env: str) -> Secret:
        value = self.text(key, "")
        env = self.text(f"{key}_env", default_env)
        return Secret(self.key(key), value, env)

    def sub(self, key: str) -> _Section:
        self.used.add(key)
        return _Section(self.data.get(key, {}), self.key(key), self.base)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(self.key(unknown[0]), "unknown key (check the spelling)")


def _type_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        dict: "a table",
        list: "a list",
    }.get(kind, kind.__name__)


def _resolve(base: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (base / path)


def _address(section: _Section, key: str, default: str) -> str:
    value = section.text(key, default)
    try:
        return addresses.normalize(value)
    except AddressError as exc:
        raise ConfigError(section.key(key), f"must be an e-mail address: {exc}") from None
