"""Errors a caller may act on, shared by RPC, events and HTTP.

They are registered with nameko's exception registry so an RPC client gets
the same exception class back, not a generic ``RemoteError``.
"""

from __future__ import annotations

from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
class ValidationError(Exception):
    """Bad input; ``errors`` maps each bad field to its messages."""

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message, errors or {})
        self.message = message
        self.errors = errors or {}

    @classmethod
    def from_fields(cls, what: str, errors: dict) -> ValidationError:
        return cls(f"invalid {what}: {describe_fields(errors)}", errors)

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class NotFound(Exception):
    pass


@deserialize_to_instance
class Conflict(Exception):
    pass


@deserialize_to_instance
class Unauthorized(Exception):
    """No partner credential, or one nobody issued."""


@deserialize_to_instance
class Forbidden(Exception):
    """A known partner asking for what it may not do or see."""


EXPECTED = (ValidationError, NotFound, Conflict, Unauthorized, Forbidden)


def describe_fields(errors: dict, prefix: str = "") -> str:
    """Flatten marshmallow's nested error dict into 'field: message; ...'."""
    parts = []
    for field, messages in sorted(errors.items(), key=lambda kv: str(kv[0])):
        name = f"{prefix}{field}"
        if isinstance(messages, dict):
            parts.append(describe_fields(messages, prefix=f"{name}."))
        else:
            text = " ".join(messages) if isinstance(messages, (list, tuple)) else str(messages)
            parts.append(f"{name}: {text}")
    return "; ".join(parts)
