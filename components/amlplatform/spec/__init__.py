"""The platform's shape: typed models (pydantic) of everything one platform declares.

Layers, pointing down: the leaf components (``amlplatform.iac`` but ``iac.platform``) declare their
defaults beside their Args; these models take their defaults from there, so a stack that leaves a
setting out gets what a bare component gets; the ``MLPlatform`` component (``amlplatform.iac.platform``)
validates its arguments with :class:`amlplatform.spec.platform.StackSettings`, and the program reads a
stack file into the same model (``amlplatform.settings``, which re-exports every module here under its
old name). Pure Azure facts live lowest, in ``amlplatform.azure``.
"""
