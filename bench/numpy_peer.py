"""numpy/OpenBLAS on the DiT-XL/2 kernel shapes: the physical reference for bench/kernels_vs_numpy.ts.

    python3 bench/numpy_peer.py --case linear --m 512 --k 1152 --n 3456 [--threads 2]
    python3 bench/numpy_peer.py --case attention --batch 2 --tokens 1024 [--heads 16 --head-dim 72]

Prints one JSON line: seconds per call (best round), and for attention also the seconds of its
two matmuls alone (q·kᵀ and p·v as batched sgemm, the part OpenBLAS accelerates). Set the BLAS
thread count before numpy loads (OPENBLAS_NUM_THREADS), so it is a command-line option here.
Needs Debian's python3-numpy with libopenblas0-pthread (numpy then uses OpenBLAS's sgemm).
"""

import argparse
import json
import os
import sys
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--case", choices=["linear", "attention"], required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--m", type=int, default=512)
    p.add_argument("--k", type=int, default=1152)
    p.add_argument("--n", type=int, default=3456)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--head-dim", type=int, default=72)
    p.add_argument("--min-seconds", type=float, default=0.3)
    return p.parse_args()


def best_seconds(run, min_seconds):
    """Best of three rounds; a round repeats `run` until it has taken min_seconds."""
    run()  # warm-up (allocation, thread start)
    best = float("inf")
    for _ in range(3):
        calls, started = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def main():
    args = parse()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np  # after the thread count is set

    rng = np.random.default_rng(1)
    if args.case == "linear":
        x = rng.standard_normal((args.m, args.k), dtype=np.float32)
        w = rng.standard_normal((args.n, args.k), dtype=np.float32)
        b = rng.standard_normal(args.n, dtype=np.float32)
        seconds = best_seconds(lambda: x @ w.T + b, args.min_seconds)
        print(json.dumps({"seconds": seconds}))
        return
    bh, n, d = args.batch * args.heads, args.tokens, args.head_dim
    q = rng.standard_normal((bh, n, d), dtype=np.float32)
    k = rng.standard_normal((bh, n, d), dtype=np.float32)
    v = rng.standard_normal((bh, n, d), dtype=np.float32)
    kt = np.ascontiguousarray(k.transpose(0, 2, 1))
    scale = np.float32(1 / np.sqrt(d))

    def attention():
        s = (q * scale) @ kt
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return s @ v

    p = rng.random((bh, n, n), dtype=np.float32)

    def matmuls():
        q @ kt
        return p @ v

    print(json.dumps({
        "seconds": best_seconds(attention, args.min_seconds),
        "matmulSeconds": best_seconds(matmuls, args.min_seconds),
    }))


if __name__ == "__main__":
    sys.exit(main())
