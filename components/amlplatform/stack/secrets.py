"""Secret stack config values stay secret where they reach resources (used by the stack program).

``pulumi config set --secret`` marks the key secret but the program receives its plain text; the
settings are plain values, so :func:`mark_secrets` restores the secret-ness on every resource input
that holds such a text, and :func:`secret_if_contains` on the stack outputs.
"""

from typing import Any, Mapping, Optional, Sequence

import pulumi


# A secret shorter than this is matched only as a whole value: a short text ("k8s") inside a
# longer one is more likely a coincidence than the secret.
_CONTAINED_MIN = 8


def _holds_secret(value: Any, secrets: Sequence[str]) -> bool:
    if isinstance(value, str):
        return any(value == s or (len(s) >= _CONTAINED_MIN and s in value) for s in secrets)
    if isinstance(value, Mapping):
        return any(_holds_secret(v, secrets) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_secret(v, secrets) for v in value)
    if _is_input_type(value):
        return any(_holds_secret(v, secrets) for v in vars(value).values())
    return False


def _is_input_type(value: Any) -> bool:
    from pulumi import _types

    return _types.is_input_type(type(value))


def _secret_if_contains(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` as a secret Output when it holds a secret text (plain, or once an Output resolves)."""
    if not secrets:
        return value
    if isinstance(value, pulumi.Output):
        return value.apply(lambda v: pulumi.Output.secret(v) if _holds_secret(v, secrets) else v)
    if _holds_secret(value, secrets):
        return pulumi.Output.secret(value)
    return value


def _wrap_secrets(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with each part that holds a secret text made a secret Output, the rest untouched
    (a secret tenant id hides the vault's tenantId, not all of its properties)."""
    if isinstance(value, pulumi.Output):
        return _secret_if_contains(value, secrets)
    if not _holds_secret(value, secrets):
        return value
    if isinstance(value, str):
        return pulumi.Output.secret(value)
    if isinstance(value, Mapping):
        return {k: _wrap_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wrap_secrets(v, secrets) for v in value]
    if _is_input_type(value):
        import copy

        clone = copy.copy(value)
        clone.__dict__.update({k: _wrap_secrets(v, secrets) for k, v in vars(value).items()})
        return clone
    return pulumi.Output.secret(value)


def mark_secrets(secrets: Sequence[str]) -> None:
    """Every resource input that holds the text of a secret config value becomes a Pulumi secret.

    ``pulumi config set --secret`` marks the key secret (PULUMI_CONFIG_SECRET_KEYS) but the
    program receives its plain text; settings are plain values, so the secret-ness is restored
    where the values reach resources: a stack transformation wraps each input property that
    holds a secret text (equal to it, or containing it when it is at least 8 characters) in
    ``pulumi.Output.secret`` (only the parts of a structured input that hold it) - so it is
    encrypted in the state and masked in previews. Nothing is registered when the stack has no
    secrets.
    """
    texts = [s for s in secrets if s]
    if not texts:
        return

    def transform(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        props = dict(args.props)
        changed = False
        for key, value in props.items():
            if isinstance(value, pulumi.Output) or _holds_secret(value, texts):
                props[key] = _wrap_secrets(value, texts)
                changed = True
        if (args.type_ == "azure-native:authorization:RoleAssignment" and props.get("role_assignment_name") is not None
                and _holds_secret(args.props.get("principal_id"), texts)):
            # the assignment's GUID derives from the secret principal: a secret too (so a preview
            # masks it, and offline - where only a stand-in is known - no made-up GUID is shown)
            props["role_assignment_name"] = pulumi.Output.secret(props["role_assignment_name"])
            changed = True
        return pulumi.ResourceTransformationResult(props, args.opts) if changed else None

    pulumi.runtime.register_stack_transformation(transform)


secret_if_contains = _secret_if_contains

__all__ = ["mark_secrets", "secret_if_contains"]
