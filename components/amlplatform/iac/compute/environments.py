"""Azure ML environments as code: an environment container and one version of it.

A version is either a Docker image used as is, or a conda specification on a base image, which
Azure ML builds into an image in the workspace's container registry (so a stack whose registry
mode is ``auto`` creates the registry when it declares one: see ``StackSettings.needs_images``).
Versions are immutable on the service side: a change of image or conda file needs a new
``version``, which Pulumi then creates as a new resource.
"""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, defaults, token

# Properties the service refuses to change on an existing version.
VERSION_CREATE_ONLY = ("properties.image", "properties.condaFile", "properties.build", "properties.osType")


class EnvironmentArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace that holds the environment."""
    environment_name: Required[str]
    """Asset name: letters, digits, '.', '_' and '-'."""
    version: str
    """Version label."""
    image: str
    """Docker image used as is; or give conda_file (with base_image)."""
    conda_file: str
    """Content of a conda YAML (the program reads the file; components never read files)."""
    base_image: str
    """Image the conda environment is built on."""
    description: str
    """Shown in the studio."""
    os_type: str
    """Linux or Windows."""
    tags: Mapping[str, str]
    """Tags of the version."""


# every default of EnvironmentArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(EnvironmentArgs, version="1", os_type="Linux")


class Environment(pulumi.ComponentResource):
    """An environment container and one version of it."""

    id: pulumi.Output[str]
    """ARM id of the environment version."""
    name: pulumi.Output[str]
    """Name of the environment."""
    version: pulumi.Output[str]
    """Version of the environment."""
    asset_id: pulumi.Output[str]
    """azureml:<name>:<version> reference, for jobs and deployments."""

    def __init__(self, name: str, args: EnvironmentArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("Environment", args, EnvironmentArgs)
        super().__init__(token("Environment"), name, None, opts)
        args = {**DEFAULTS, **args}  # type: ignore[assignment]
        env_name = naming.ensure("environment_asset", args["environment_name"])
        image, conda = args.get("image"), args.get("conda_file")
        if bool(image) == bool(conda):
            raise ValueError(f"{name}: give exactly one of image or conda_file")
        if conda and not args.get("base_image"):
            raise ValueError(f"{name}: conda_file needs base_image")
        version = args["version"]
        tags = dict(args.get("tags") or {})

        container = ml.EnvironmentContainer(
            f"{name}-container",
            resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"],
            name=env_name,
            properties={k: v for k, v in (("description", args.get("description")), ("tags", tags))
                        if v is not None},
            opts=child(self),
        )
        properties: dict = {
            "os_type": args["os_type"],
            "tags": tags,
            "image": image or args.get("base_image"),
        }
        if conda:
            properties["conda_file"] = conda
        if args.get("description"):
            properties["description"] = args["description"]
        environment_version = ml.EnvironmentVersion(
            f"{name}-version",
            resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"],
            # the container's name, not a plain string: a version belongs to its container
            name=container.name,
            version=version,
            properties=properties,
            opts=child(self),
        )
        self.id = environment_version.id
        self.name = container.name
        self.version = pulumi.Output.from_input(version)
        self.asset_id = pulumi.Output.concat("azureml:", env_name, ":", version)
        self.register_outputs({"id": self.id, "name": self.name, "version": self.version,
                               "asset_id": self.asset_id})
