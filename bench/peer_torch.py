#!/usr/bin/python3
"""The peer of bench/peer_compare.ts: the same DiT work in plain PyTorch (CPU, eager, f32).

A DiT written out in torch.nn (diffusers' DiTTransformer2DModel computation: patch embedding,
sin-cos positions, timestep and class embeddings, adaLN-zero blocks with GELU-tanh MLPs, the
final adaLN and unpatchify; each block embeds timestep and class itself, as there) with random
weights for DiT-XL/2 and the embedded checkpoint for tiny-demo, read without diffusers:

  /usr/bin/python3 bench/peer_torch.py --case xl256 [--threads 2] [--repeats 1]
  /usr/bin/python3 bench/peer_torch.py --case xl512
  /usr/bin/python3 bench/peer_torch.py --case tiny-demo     # 20 images, DDIM-20, CFG

Cases: xl256 / xl512 time one denoising step of DiT-XL/2 (28 layers, 1152 wide, 16 heads) with a
CFG batch of 2 (one image) at 256 px (32×32 latents, 256 tokens) or 512 px (64×64, 1024
tokens), after one untimed step; tiny-demo times the embedded tiny-fmnist model's demo (6 layers,
128 wide, 4 heads, 32×32×1 input, its own weights from assets/tiny-fmnist): 20 images in one
batch, 20 DDIM steps with CFG, per image.
Prints one JSON line: {"case", "seconds", "unit", "threads", "torch", "blas", "wait_policy"}.

Needs Debian's python3-torch and libopenblas0-pthread (without OpenBLAS Debian's torch falls back
to the reference BLAS, several times slower).
"""

import argparse
import json
import math
import os
import struct
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    # layers, hidden, heads, patch, latent size, in channels, out channels, classes
    "xl256": dict(layers=28, hidden=1152, heads=16, patch=2, size=32, cin=4, cout=8, classes=1000),
    "xl512": dict(layers=28, hidden=1152, heads=16, patch=2, size=64, cin=4, cout=8, classes=1000),
    "tiny-demo": dict(layers=6, hidden=128, heads=4, patch=2, size=32, cin=1, cout=1, classes=10),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (best kept)")
    parser.add_argument("--images", type=int, default=20, help="tiny-demo: images")
    parser.add_argument("--steps", type=int, default=20, help="tiny-demo: DDIM steps")
    parser.add_argument(
        "--weights",
        default=os.path.join(HERE, "..", "assets", "tiny-fmnist", "diffusion_pytorch_model.safetensors"),
        help="tiny-demo: the checkpoint (default: the embedded model); 'random' for random weights",
    )
    return parser.parse_args()


args = parse_args()
# Thread counts must be set before torch starts its pools.
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(args.threads)
# Idle OpenMP threads sleep instead of spinning: on cores shared with other jobs the spinning
# default made the tiny-demo case 2.9x slower (4.74 s against 1.65 s per image at load 6 on 2
# cores); lavapipe's worker threads sleep too. Set OMP_WAIT_POLICY to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def sincos_2d(dim, grid):
    """diffusers' get_2d_sincos_pos_embed: half the channels for each axis."""
    def one_axis(d, pos):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2.0))
        out = pos.reshape(-1)[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    coords = torch.arange(grid, dtype=torch.float64)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.cat([one_axis(dim // 2, gx), one_axis(dim // 2, gy)], dim=1).float()


def timestep_features(t, dim=256):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args_ = t.float()[:, None] * freqs[None]
    return torch.cat([args_.cos(), args_.sin()], dim=1)


class Block(nn.Module):
    """diffusers' BasicTransformerBlock with ada_norm_zero: each block embeds (t, y) itself."""

    def __init__(self, hidden, heads, classes):
        super().__init__()
        self.heads = heads
        self.t1 = nn.Linear(256, hidden)
        self.t2 = nn.Linear(hidden, hidden)
        self.labels = nn.Embedding(classes + 1, hidden)  # the last row: CFG's null class
        self.ada = nn.Linear(hidden, 6 * hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.fc1 = nn.Linear(hidden, 4 * hidden)
        self.fc2 = nn.Linear(4 * hidden, hidden)

    def condition(self, t_features, y):
        return self.t2(F.silu(self.t1(t_features))) + self.labels(y)

    def forward(self, x, t_features, y):
        b, n, d = x.shape
        c = self.condition(t_features, y)
        s1, g1, a1, s2, g2, a2 = self.ada(F.silu(c))[:, None].chunk(6, dim=2)
        h = F.layer_norm(x, (d,), eps=1e-6) * (1 + g1) + s1
        # Heads moved into the batch as contiguous [B·H, N, D] (as diffusers' AttnProcessor
        # does on torch < 2, which has no fused attention) and the scale applied to q, not to
        # the N×N scores. Profiled at 512 px on this CPU with torch 1.13: matmuls on the
        # permuted views ran at 18 GFLOP/s and dividing the scores cost as much as the softmax
        # (one block 1.99 s); baddbmm with alpha loops over the batch at 10 GFLOP/s; bmm on
        # contiguous operands reaches about 100 GFLOP/s.
        hd = d // self.heads
        q, k, v = (
            t.reshape(b * self.heads, n, hd)
            for t in self.qkv(h).view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4).contiguous()
        )
        scores = torch.bmm(q * (1 / math.sqrt(hd)), k.transpose(-1, -2).contiguous())
        attn = torch.bmm(scores.softmax(dim=-1), v)
        attn = attn.view(b, self.heads, n, hd).transpose(1, 2).reshape(b, n, d)
        x = x + a1 * self.out(attn)
        h = F.layer_norm(x, (d,), eps=1e-6) * (1 + g2) + s2
        return x + a2 * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class DiT(nn.Module):
    def __init__(self, layers, hidden, heads, patch, size, cin, cout, classes):
        super().__init__()
        self.patch, self.size, self.cout = patch, size, cout
        self.embed = nn.Conv2d(cin, hidden, patch, stride=patch)
        self.register_buffer("pos", sincos_2d(hidden, size // patch)[None])
        self.blocks = nn.ModuleList(Block(hidden, heads, classes) for _ in range(layers))
        self.final_ada = nn.Linear(hidden, 2 * hidden)
        self.final = nn.Linear(hidden, patch * patch * cout)

    def forward(self, x, t, y):
        b = x.shape[0]
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        t_features = timestep_features(t)
        for block in self.blocks:
            h = block(h, t_features, y)
        # The final modulation uses the first block's conditioning, as diffusers' DiT does.
        c = self.blocks[0].condition(t_features, y)
        shift, scale = self.final_ada(F.silu(c))[:, None].chunk(2, dim=2)
        h = self.final(F.layer_norm(h, (h.shape[2],), eps=1e-6) * (1 + scale) + shift)
        g, p = self.size // self.patch, self.patch
        h = h.view(b, g, g, p, p, self.cout).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(b, self.cout, self.size, self.size)


def read_safetensors(path):
    """name → tensor of an F32 safetensors file (no safetensors package needed)."""
    import numpy as np

    with open(path, "rb") as f:
        header_bytes = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_bytes))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, only F32 is read here")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def load_diffusers_weights(model, path):
    """Copies a DiTTransformer2DModel checkpoint into `model` (q/k/v stacked into one linear)."""
    w = read_safetensors(path)
    with torch.no_grad():
        model.embed.weight.copy_(w["pos_embed.proj.weight"])
        model.embed.bias.copy_(w["pos_embed.proj.bias"])
        for i, block in enumerate(model.blocks):
            p = f"transformer_blocks.{i}."
            e = p + "norm1.emb."
            pairs = [
                (block.t1, e + "timestep_embedder.linear_1"),
                (block.t2, e + "timestep_embedder.linear_2"),
                (block.ada, p + "norm1.linear"),
                (block.out, p + "attn1.to_out.0"),
                (block.fc1, p + "ff.net.0.proj"),
                (block.fc2, p + "ff.net.2"),
            ]
            for layer, name in pairs:
                layer.weight.copy_(w[name + ".weight"])
                layer.bias.copy_(w[name + ".bias"])
            block.labels.weight.copy_(w[e + "class_embedder.embedding_table.weight"])
            qkv = [p + f"attn1.to_{x}" for x in "qkv"]
            block.qkv.weight.copy_(torch.cat([w[n + ".weight"] for n in qkv]))
            block.qkv.bias.copy_(torch.cat([w[n + ".bias"] for n in qkv]))
        for layer, name in [(model.final_ada, "proj_out_1"), (model.final, "proj_out_2")]:
            layer.weight.copy_(w[name + ".weight"])
            layer.bias.copy_(w[name + ".bias"])


def randomize(model):
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02)


def cfg_step(model, x, t, labels, null, scale, cin):
    """One CFG forward: conditional and null halves in one batch, guided noise estimate."""
    both = torch.cat([x, x])
    tt = torch.full((both.shape[0],), float(t))
    out = model(both, tt, torch.cat([labels, null]))[:, :cin]
    cond, uncond = out.chunk(2)
    return uncond + scale * (cond - uncond)


def ddim(model, images, steps, cfg, shape):
    cin, size = shape
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas = torch.cumprod(1 - betas, 0)
    timesteps = list(range(0, 1000, 1000 // steps))[::-1]
    x = torch.randn(images, cin, size, size)
    labels = torch.arange(images) % 10
    null = torch.full((images,), 10)
    for i, t in enumerate(timesteps):
        eps = cfg_step(model, x, t, labels, null, cfg, cin)
        a = alphas[t].item()
        prev = alphas[timesteps[i + 1]].item() if i + 1 < len(timesteps) else 1.0
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        x = math.sqrt(prev) * x0 + math.sqrt(1 - prev) * eps
    return x


def main():
    spec = CASES[args.case]
    model = DiT(**spec).eval()
    randomize(model)
    if args.case == "tiny-demo" and args.weights != "random":
        load_diffusers_weights(model, args.weights)
    best = math.inf
    with torch.inference_mode():
        if args.case == "tiny-demo":
            shape = (spec["cin"], spec["size"])
            ddim(model, 2, 2, 4.0, shape)  # warm-up
            for _ in range(args.repeats):
                started = time.perf_counter()
                ddim(model, args.images, args.steps, 4.0, shape)
                best = min(best, (time.perf_counter() - started) / args.images)
            unit = "s per image"
        else:
            x = torch.randn(1, spec["cin"], spec["size"], spec["size"])
            labels, null = torch.tensor([207]), torch.tensor([spec["classes"]])
            cfg_step(model, x, 500, labels, null, 4.0, spec["cin"])  # warm-up
            for _ in range(args.repeats):
                started = time.perf_counter()
                cfg_step(model, x, 500, labels, null, 4.0, spec["cin"])
                best = min(best, time.perf_counter() - started)
            unit = "s per step"
    blas = "openblas" if os.path.exists("/usr/lib/x86_64-linux-gnu/openblas-pthread") else "?"
    print(json.dumps({
        "case": args.case,
        "seconds": best,
        "unit": unit,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas,
        "wait_policy": os.environ["OMP_WAIT_POLICY"],
    }))


main()
