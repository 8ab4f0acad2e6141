# PyTorch side of bench/ops.ts: the same ops, same sizes, same thread count; prints JSON.
import json, sys, time
import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)


def per_call(fn, n, warm=None):
    for _ in range(warm or max(1, n // 10)):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6  # microseconds


a = torch.ones(4)
b = torch.ones(4)
x = torch.randn(8, 64)
w = torch.randn(32, 64)
bias = torch.randn(32)
out = {}
out["add [4]"] = per_call(lambda: a + b, 200000)
out["linear [8,64]x[32,64]"] = per_call(lambda: torch.nn.functional.linear(x, w, bias), 100000)
xr = torch.randn(4, 4, requires_grad=True)
out["mul+sum+backward [4,4]"] = per_call(lambda: (xr * xr).sum().backward(), 20000)

ci = torch.randn(16, 64, 56, 56)
cw = torch.randn(64, 64, 3, 3, requires_grad=True)


def conv_step():
    y = torch.nn.functional.conv2d(ci, cw, padding=1)
    y.sum().backward()
    cw.grad = None


out["conv2d fwd+bwd [16,64,56,56]"] = per_call(conv_step, 10, warm=2)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "us": out}))
