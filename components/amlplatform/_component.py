"""What every amlplatform component shares: its type token and how children are parented.

Children get ``parent=self`` and nothing merged from the component's own options: providers and
``protect`` flow from the parent through Pulumi itself, and merging would copy the component's
aliases onto every child.
"""

from typing import Any, Mapping, Optional, Sequence

import pulumi

TOKEN_PREFIX = "amlplatform:index:"


def token(class_name: str) -> str:
    """Type tokens are public API: other languages consume only the ``index`` module."""
    return TOKEN_PREFIX + class_name


def child(parent: pulumi.Resource, *, protect: bool = False,
          ignore_changes: Optional[Sequence[str]] = None,
          depends_on: Optional[Sequence[pulumi.Resource]] = None,
          **extra: Any) -> pulumi.ResourceOptions:
    """Options for a child resource of ``parent``. ``protect`` only where data would be lost."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect or None,
        ignore_changes=list(ignore_changes) if ignore_changes else None,
        depends_on=list(depends_on) if depends_on else None,
        **extra,
    )


def merged_tags(tags: Optional[Mapping[str, str]]) -> dict:
    return dict(tags or {})
