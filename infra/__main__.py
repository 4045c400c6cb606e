"""The amlplatform Pulumi program (`pulumi up -s dev|staging|prod`).

Reads the stack's settings (stacks/Pulumi.<stack>.yaml), validates them before declaring any
resource, builds the components and exports what consumers and `amlplatform submit` need.
"""

from amlplatform.stack.program import run

run()
