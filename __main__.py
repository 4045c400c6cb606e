"""The amlplatform component provider, as Pulumi starts a source-based Python plugin.

The Python language host runs ``python <this folder> <engine address> [flags]`` (PulumiPlugin.yaml);
this serves every component of ``components/amlplatform`` (``amlplatform.provider``). It is not the
stack program: that is ``infra/`` (Pulumi.yaml ``main``).
"""

import sys
from pathlib import Path

# the source next to this file, even where the package is not installed (or another version is)
sys.path.insert(0, str(Path(__file__).resolve().parent / "components"))

from amlplatform.provider import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
