"""
PyTorch baseline on the same machine: the forward pass of the official DiT
(facebookresearch/DiT models.py with timm 0.x's Attention and Mlp, transcribed
here because the repository cannot be fetched offline), random weights, timed
like `dit bench`: one warm-up, then the median of 5.

    python3 bench/torch_dit.py --model DiT-XL/2 --batch 1 [--threads 2]
    python3 bench/torch_dit.py --model DiT-S/2 --export out/torch-S2/model.onnx

With --export it writes the model as ONNX instead (torch.onnx.export, opset 16,
inputs x, t float32, y int64; external data for XL/2), to time a PyTorch export
on ONNX Runtime against ours: `node --import tsx bench/onnx-ab.ts A.onnx B.onnx`.

Prints one JSON line {"model", "batch", "resolution", "median_ms", "gflops_per_s",
"torch", "threads", "blas"}. Needs PyTorch (e.g. Debian's python3-torch; with
libopenblas0-pthread installed, or its matmuls run on the reference BLAS).
Not part of the project: a cross-check anyone can rerun.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn

CONFIGS = {  # depth, hidden, heads (the official table)
    "S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16),
}
GFLOPS = {"DiT-S/2": 6.06, "DiT-B/2": 23.01, "DiT-L/2": 80.71, "DiT-XL/2": 118.64}


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):  # timm 0.x Attention, as the official DiT used it
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden, 4 * hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden, bias=True))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class DiT(nn.Module):
    def __init__(self, depth, hidden, heads, patch, input_size=32, in_channels=4, num_classes=1000):
        super().__init__()
        self.p, self.c_out = patch, 2 * in_channels
        self.x_embedder = nn.Conv2d(in_channels, hidden, kernel_size=patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.randn(1, (input_size // patch) ** 2, hidden) * 0.02, requires_grad=False)
        self.t_mlp = nn.Sequential(nn.Linear(256, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.y_table = nn.Embedding(num_classes + 1, hidden)
        self.blocks = nn.ModuleList([DiTBlock(hidden, heads) for _ in range(depth)])
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, patch * patch * self.c_out)
        self.final_adaLN = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    @staticmethod
    def timestep_embedding(t, dim=256, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, x, t, y):
        x = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed  # (N, T, D)
        c = self.t_mlp(self.timestep_embedding(t)) + self.y_table(y)
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.final_adaLN(c).chunk(2, dim=1)
        x = self.linear(modulate(self.norm_final(x), shift, scale))  # (N, T, p²·2C)
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, self.p, self.p, self.c_out)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], self.c_out, h * self.p, h * self.p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="DiT-XL/2")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads() if torch.get_num_threads() > 1 else 2)
    ap.add_argument("--export", metavar="PATH", help="write an ONNX export (batch --batch) instead of timing")
    args = ap.parse_args()
    size, patch = args.model.removeprefix("DiT-").split("/")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DiT(*CONFIGS[size], int(patch)).eval()
    x = torch.randn(args.batch, 4, 32, 32)
    t = torch.randint(0, 1000, (args.batch,))
    y = torch.randint(0, 1000, (args.batch,))
    if args.export:
        import os
        os.makedirs(os.path.dirname(os.path.abspath(args.export)), exist_ok=True)
        # opset 16: torch 1.13's opset-17 LayerNormalization export breaks on norms without affine parameters
        torch.onnx.export(model, (x, t.float(), y), args.export, input_names=["x", "t", "y"], output_names=["out"], opset_version=16)
        print(json.dumps({"model": args.model, "batch": args.batch, "export": args.export}))
        return
    times = []
    with torch.no_grad():
        model(x, t, y)  # warm-up
        for _ in range(5):
            t0 = time.perf_counter()
            model(x, t, y)
            times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    gflops = GFLOPS.get(args.model, float("nan")) * 2 * args.batch  # 2 FLOPs per multiply-accumulate
    blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "other"
    print(json.dumps({"model": args.model, "batch": args.batch, "resolution": 256, "median_ms": round(med, 1),
                      "gflops_per_s": round(gflops / med * 1000, 1), "torch": torch.__version__, "threads": args.threads, "blas": blas}))


if __name__ == "__main__":
    main()
