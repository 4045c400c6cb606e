// A TypeScript Pulumi program that declares the whole platform, amlplatform's MLPlatform, as a remote
// component: the stack file's settings as its inputs (camelCase, as the schema names them), the
// engine (the test's mock engine, tests/package/engine.py) has our provider construct it.
import * as pulumi from "@pulumi/pulumi";

interface MLPlatformArgs {
    location: pulumi.Input<string>;
    naming: { workload: string; environment: string };
    tenantId?: pulumi.Input<string>;
    subscriptionId?: pulumi.Input<string>;
    deployerObjectId?: pulumi.Input<string>;
    workspace?: { publicNetworkAccess?: string; managedNetwork?: string };
    clusters?: { name: string; vmSize: string; maxNodes?: number }[];
    access?: { dataScientists?: { principalId: string; description?: string }[] };
}

class MLPlatform extends pulumi.ComponentResource {
    public readonly workspaceId!: pulumi.Output<string>;
    public readonly workspaceName!: pulumi.Output<string>;

    constructor(name: string, args: MLPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("amlplatform:index:MLPlatform", name, { ...args, workspaceId: undefined, workspaceName: undefined },
              opts, /* remote */ true);
    }
}

// the same platform as tests/package/test_grpc.py's PLATFORM
const ml = new MLPlatform("ml", {
    location: "westeurope",
    naming: { workload: "fraud", environment: "tst" },
    tenantId: "00000000-0000-0000-0000-000000000001",
    subscriptionId: "00000000-0000-0000-0000-000000000002",
    deployerObjectId: "00000000-0000-0000-0000-000000000003",
    workspace: { publicNetworkAccess: "Enabled", managedNetwork: "AllowInternetOutbound" },
    clusters: [{ name: "cpu", vmSize: "Standard_DS3_v2", maxNodes: 2 }],
    access: { dataScientists: [{ principalId: "00000000-0000-0000-0000-000000000004", description: "ds" }] },
});

pulumi.all([ml.urn, ml.workspaceName]).apply(([urn, workspaceName]) => {
    console.log(`urn=${urn}`);
    console.log(`workspaceName=${workspaceName}`);
});

export const workspaceName = ml.workspaceName;
