"""Reading recorded resource inputs by a dotted path, the one way every review module does it."""

from collections.abc import Mapping
from typing import Any


def get_path(data: Any, path: str) -> Any:
    """``get_path(inputs, "properties.networkAcls.defaultAction")``: the value at a dotted path, or None
    when any step is missing. A numeric step indexes a list (``"privateLinkServiceConnections.0.groupIds"``)."""
    value: Any = data
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
            continue
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
