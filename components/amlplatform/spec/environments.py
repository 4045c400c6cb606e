"""Typed settings for Azure ML environments (stack key ``amlplatform:environments``).

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

from typing import Annotated, Dict, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from amlplatform.iac.compute.environments import DEFAULTS as ENVIRONMENT  # written once, beside EnvironmentArgs
from amlplatform.azure import naming
from amlplatform.errors import Problems
from amlplatform.spec.core import Model

# ---------------------------------------------------------------------------- environments

def _asset_name(value: str) -> str:
    problems = naming.check("environment_asset", value)
    if problems:
        raise Problems(problems)
    return value


DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


class EnvironmentSettings(Model):
    """An Azure ML environment: a Docker image as is, or a conda file built on a base image."""

    name: Annotated[str, AfterValidator(_asset_name)]
    """Environment name: letters, digits, '.', '_' and '-'"""
    version: str = Field(ENVIRONMENT["version"], pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,29})$")
    """Version; immutable: change it with the image or conda file"""
    image: Optional[str] = Field(None, description="Docker image used as is (no build)")
    conda_file: Optional[str] = Field(
        None, description="conda YAML, relative to the project folder; built on base_image")
    base_image: Optional[str] = Field(None, description=f"With conda_file; default {DEFAULT_BASE_IMAGE}")
    description: Optional[str] = None
    """Shown in the studio"""
    os_type: Literal["Linux", "Windows"] = "Linux"
    """Operating system of the image"""
    tags: Dict[str, str] = Field(default_factory=dict)
    """Tags on the environment version"""

    @model_validator(mode="after")
    def _one_source(self) -> "EnvironmentSettings":
        if bool(self.image) == bool(self.conda_file):
            raise ValueError("give exactly one of image (used as is) or conda_file (built on base_image)")
        if self.base_image and not self.conda_file:
            raise ValueError("base_image is only used with conda_file (image is used as is)")
        return self

    @property
    def builds_image(self) -> bool:
        """A conda file on a base image makes Azure ML build an image, which needs a registry."""
        return self.conda_file is not None


