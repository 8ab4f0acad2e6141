#!/usr/bin/python3
"""The PyTorch side of bench/ddp.ts: ResNet-18 training steps on random 64x64 images, batch 8 per
process, SGD momentum 0.9, in one process or as one rank of torch DDP over Gloo (the torchrun
variables RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set by bench/ddp.ts).

Usage: ddp_torch.py THREADS STEPS WARMUP -> rank 0 prints {"ips": images per second (all ranks)}
"""

import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision

BATCH = 8
SIZE = 64


def main():
    threads, steps, warm = (int(a) for a in sys.argv[1:4])
    torch.set_num_threads(threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    if world > 1:
        dist.init_process_group("gloo")
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    torch.manual_seed(rank)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, 10, (BATCH,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warm):
        step()
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if world > 1:
        dist.barrier()
    secs = time.perf_counter() - t0
    if rank == 0:
        print(json.dumps({"ips": steps * BATCH * world / secs}), flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
