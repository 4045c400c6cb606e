"""The components: every ``pulumi.ComponentResource`` of the package, grouped by concern.

Each sub-package is one concern (the workspace and what it depends on, the network, access, computes,
Kubernetes, data, serving) and :mod:`.platform` is the whole platform shaped like a stack file.
Shared by all: :mod:`._base` (type tokens, child options, argument checks) and :mod:`.options` (the
cross-cutting options every component takes in one shape). Components never read config or import
the stack settings; pure Azure facts come from :mod:`amlplatform.azure`. Import them from the package
root (``from amlplatform import MLWorkspace``).
"""
