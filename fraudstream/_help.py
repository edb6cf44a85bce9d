"""Help text shared by the commands: the defaults of options that default to a setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["shown_default"]


def shown_default(settings: type[BaseModel], name: str) -> str:
    """`[default: <value>]` of the setting `name`, for the help of an option that defaults to None
    (so that, unset, the setting's environment variable or default applies) and would show no default.
    """
    value = settings.model_fields[name].default
    return f"[default: {value}]"
