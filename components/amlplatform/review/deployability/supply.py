"""Deployability rules about where a deployment's bits come from (``AMLD-3xx``, supply chain)."""

import re
from typing import Any, Iterable

from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability import _graph as g

ENVIRONMENT_VERSION = "azure-native:machinelearningservices:EnvironmentVersion"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_reference_problem(image: str) -> str:
    """Why ``image`` is not pinned ('' when it names a digest). Pure."""
    if DIGEST.search(image):
        return ""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "names a digest that is not sha256:<64 hex digits>"
    if ":" not in last:
        return "names no tag, so it means :latest"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        return "names the tag latest"
    return f"names the tag {tag}, which its registry can move to another image"


@rule("AMLD-301", reason="an environment version is immutable in Azure ML, but an image named by tag is not: when "
      "the tag moves, the same environment version builds or runs another image, untested, with no change in the "
      "plan; pin the image by digest (Azure Container Registry: image tag best practices, 'unique tags' and "
      "digests for deployments)",
      doc="https://learn.microsoft.com/azure/container-registry/container-registry-image-tag-version")
def environment_images_are_pinned_by_digest(graph: Any) -> Iterable[Finding]:
    for env in graph.of_type(ENVIRONMENT_VERSION):
        image = g.get(env.inputs, "properties.image")
        if not isinstance(image, str) or image == g.UNKNOWN:
            continue
        problem = image_reference_problem(image)
        if problem:
            yield Finding("AMLD-301", env.name,
                          f"image {image} {problem}: pin it by digest (<image>@sha256:<digest>; `docker buildx "
                          f"imagetools inspect {image.split('@')[0]}` or `az acr manifest show-metadata` prints it), "
                          "and move the digest on purpose, with a new environment version")
