"""The platform's shape: typed models (pydantic, no Pulumi) of everything one platform declares.

They sit below both the components and the stack program: the ``MLPlatform`` component validates its
arguments with :class:`amlplatform.spec.platform.StackSettings`, and the program reads a stack file
into the same model (``amlplatform.settings``, which re-exports every module here under its old
name). Pure Azure facts they use live one level lower, in ``amlplatform.azure``.
"""
