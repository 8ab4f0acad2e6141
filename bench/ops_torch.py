# PyTorch side of the per-op dispatch cases (bench/_ops_cases.ts has graft's): same ops, sizes and
# thread count. Protocol (bench/_side.ts): a hello JSON line, then "op:CASE N" -> {"us": per call}.
# Usage: python3 bench/ops_torch.py THREADS
import json, sys, time
import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)

a = torch.ones(4)
b = torch.ones(4)
x = torch.randn(8, 64)
w = torch.randn(32, 64)
bias = torch.randn(32)
xr = torch.randn(4, 4, requires_grad=True)


def mul_sum_backward():
    (xr * xr).sum().backward()


CASES = {
    "add": lambda: a + b,
    "add_scalar": lambda: a + 1,
    "linear": lambda: torch.nn.functional.linear(x, w, bias),
    "mul_sum_backward": mul_sum_backward,
    # Python frees by reference counting, with or without a scope
    "add_no_tidy": lambda: a + b,
}


def per_call(fn, n):
    # wall clock and process CPU time (what a loaded machine does not inflate), microseconds per call
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6, (time.process_time() - c0) / n * 1e6


print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    mode, n = parts[0], int(parts[1])
    case = mode[3:] if mode.startswith("op:") else mode
    if case not in CASES:
        print(json.dumps({"error": "unknown case " + case}), flush=True)
        continue
    us, cpu_us = per_call(CASES[case], n)
    print(json.dumps({"us": us, "cpu_us": cpu_us}), flush=True)
