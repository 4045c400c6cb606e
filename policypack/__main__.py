"""The amlplatform policy pack for a real deployment:

    pulumi preview --policy-pack policypack [--policy-pack-config excepted.json]

The policies themselves live in amlplatform.review.policies (pure validations over the
resources' azure-native inputs, also run offline by `amlplatform scan`). Constructing the
PolicyPack starts the gRPC server the Pulumi CLI talks to, so it happens only here.
A stack's deliberate exceptions become advisory with
`amlplatform scan --stack S --policy-pack-config excepted.json`.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from amlplatform.review.policies import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.ADVISORY, policies=POLICIES)
