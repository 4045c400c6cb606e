"""A data-parallel training skeleton: each process reads its rank from the environment Azure ML's
PyTorch distribution sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

With torch installed and WORLD_SIZE > 1 it joins the process group; without torch (this machine's
Python, locally) each process trains its shard alone. A local run starts process_count_per_instance
processes with the same variables a cluster node gets. Rank 0 writes the model to the output folder.
"""

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--model_output", required=True)
    args = p.parse_args()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    dist = None
    if world > 1:
        try:
            import torch.distributed as dist  # the cluster's environment has torch
        except ImportError:
            print(f"rank {rank}: torch is not installed here: training without a process group", flush=True)
        else:
            dist.init_process_group(backend=os.environ.get("DDP_BACKEND", "gloo"))
    loss = 1.0
    for epoch in range(1, args.epochs + 1):
        loss *= 0.5  # every rank trains on its shard; gradients would be all-reduced here
        print(f"rank {rank}/{world} epoch {epoch}: loss={loss:.4f}", flush=True)
    if rank == 0:
        out = Path(args.model_output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.json").write_text(json.dumps({"world_size": world, "loss": loss}) + "\n")
    if dist is not None:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
