"""The stack program's own helpers (not components): reading the project's files and the stack's
secret config, and keeping secret values secret. ``amlplatform.stack.program`` maps a validated stack to
the ``MLPlatform`` component with them."""
