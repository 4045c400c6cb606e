// A TypeScript Pulumi program that uses amlplatform's MLWorkspace as a remote component, the way
// a program does after `pulumi package add` (docs/components-other-languages.md). The class below
// is the minimal form of what the generated SDK declares: the type token, the inputs in the
// schema's camelCase names, the outputs it reads back, and remote = true, so the engine (here the
// test's mock engine, tests/package/engine.py) has our provider construct it.
import * as pulumi from "@pulumi/pulumi";

interface Names {
    storageAccount: pulumi.Input<string>;
    keyVault: pulumi.Input<string>;
    containerRegistry: pulumi.Input<string>;
    workspace: pulumi.Input<string>;
    logAnalytics: pulumi.Input<string>;
    appInsights: pulumi.Input<string>;
}

interface LockSpec { kind?: "CanNotDelete" | "None"; notes?: string }

interface MLWorkspaceArgs {
    resourceGroupName: pulumi.Input<string>;
    location: pulumi.Input<string>;
    tenantId: pulumi.Input<string>;
    subscriptionId: pulumi.Input<string>;
    names: Names;
    tags?: Record<string, string>;
    registryMode?: string;
    storage?: { sku?: string; networkDefaultAction?: string; blobSoftDeleteDays?: number; lock?: LockSpec };
    monitoring?: { retentionDays?: number };
    workspace?: { publicNetworkAccess?: string; managedNetwork?: string };
}

class MLWorkspace extends pulumi.ComponentResource {
    public readonly workspaceId!: pulumi.Output<string>;
    public readonly workspaceName!: pulumi.Output<string>;
    public readonly storageAccountId!: pulumi.Output<string>;

    constructor(name: string, args: MLWorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
        // outputs are passed as undefined so the SDK fills them from the provider's state
        super("amlplatform:index:MLWorkspace", name,
              { ...args, workspaceId: undefined, workspaceName: undefined, storageAccountId: undefined },
              opts, /* remote */ true);
    }
}

const ml = new MLWorkspace("ml", {
    resourceGroupName: "rg-ml",
    location: "westeurope",
    tenantId: "00000000-0000-0000-0000-000000000001",
    subscriptionId: "00000000-0000-0000-0000-000000000002",
    names: {
        storageAccount: "stmlx01", keyVault: "kv-ml-x01", containerRegistry: "crmlx01",
        workspace: "mlw-x01", logAnalytics: "log-ml-x01", appInsights: "appi-ml-x01",
    },
    tags: { "team": "fraud", "amlplatform.io/env": "tst" },
    registryMode: "service",
    storage: { sku: "Standard_LRS", networkDefaultAction: "Allow", blobSoftDeleteDays: 14, lock: { notes: "keep" } },
    monitoring: { retentionDays: 60 },
    workspace: { publicNetworkAccess: "Enabled", managedNetwork: "AllowInternetOutbound" },
});

// what the program got back from the provider (the test reads these lines)
pulumi.all([ml.urn, ml.workspaceName, ml.storageAccountId]).apply(([urn, workspaceName, storageAccountId]) => {
    console.log(`urn=${urn}`);
    console.log(`workspaceName=${workspaceName}`);
    console.log(`storageAccountId=${storageAccountId}`);
});

export const workspaceName = ml.workspaceName;
