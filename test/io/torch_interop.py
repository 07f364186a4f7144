"""Cross-checks of dit-ts's .pt writer with real PyTorch (Debian's python3-torch 1.13).

Run by test/io/torch-save.test.ts and test/io/official-checkpoint.test.ts as
`/usr/bin/python3 test/io/torch_interop.py TASK ...`; prints one JSON object.

  load PATH...        torch.load each file (weights_only=True, then plain) and describe it
  official OUT [TS]   1. the official DiT's parameter / state_dict order (tiny config);
                      2. TS (written by writeOfficialCheckpoint): torch.load it, load
                         model/ema/opt into the official DiT and AdamW, take one more step;
                      3. write OUT: a real train.py checkpoint after 2 AdamW steps (argparse
                         args), and OUT.expected.safetensors with its tensors

The model is the official models.py structure (PatchEmbed.proj, TimestepEmbedder.mlp,
LabelEmbedder.embedding_table, pos_embed, blocks, FinalLayer), with the DiTBlock of
bench/torch_dit.py (the official block with timm 0.x's Attention and Mlp).
"""
import argparse
import json
import os
import pickletools
import struct
import sys
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
from torch_dit import DiTBlock  # noqa: E402

TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=2, class_dropout_prob=0.1, num_classes=10, learn_sigma=True)


class PatchEmbed(nn.Module):  # timm's PatchEmbed: a strided conv named proj
    def __init__(self, patch, cin, dim):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim, freq=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(freq, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        half = 128
        freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, dim, p):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + (p > 0), dim)

    def forward(self, y):
        return self.embedding_table(y)


class FinalLayer(nn.Module):
    def __init__(self, dim, patch, cout):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * cout)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        x = self.norm_final(x) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)
        return self.linear(x)


class DiT(nn.Module):
    """The official DiT's module structure, registered in the official order."""

    def __init__(self, input_size, patch_size, in_channels, hidden_size, depth, num_heads, class_dropout_prob, num_classes, learn_sigma, **_):
        super().__init__()
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.p = patch_size
        self.x_embedder = PatchEmbed(patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
        self.pos_embed = nn.Parameter(torch.zeros(1, (input_size // patch_size) ** 2, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        for b in self.blocks:
            x = b(x, c)
        x = self.final_layer(x, c)
        n, T, _ = x.shape
        h = int(T**0.5)
        x = x.reshape(n, h, h, self.p, self.p, self.out_channels)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(n, self.out_channels, h * self.p, h * self.p)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def fin(v):
    """JSON has no NaN or infinities: write them as "nan", "inf", "-inf"."""
    return v if v == v and v not in (float("inf"), float("-inf")) else repr(v)


def describe(x):
    """A JSON picture of a loaded object: tensors as {dtype, shape, sum, first}."""
    if isinstance(x, torch.Tensor):
        flat = x.detach().reshape(-1)
        return {"tensor": str(x.dtype).replace("torch.", ""), "shape": list(x.shape), "sum": fin(float(flat.double().sum())) if flat.numel() else 0.0,
                "first": [fin(v) for v in flat[:4].double().tolist()] if x.dtype.is_floating_point else [int(v) for v in flat[:4]], "requires_grad": x.requires_grad}
    if isinstance(x, dict):
        return {"dict": type(x).__name__, "items": [[describe(k), describe(v)] for k, v in x.items()]}
    if isinstance(x, (list, tuple)):
        return {type(x).__name__: [describe(v) for v in x]}
    if isinstance(x, argparse.Namespace):
        return {"namespace": describe(vars(x))}
    if isinstance(x, float):
        return {"float": fin(x)}
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return {"other": repr(x)}


# Opcodes torch 1.13's weights_only unpickler handles (torch/_weights_only_unpickler.py)
WEIGHTS_ONLY_113 = {"GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE",
                    "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINUNICODE",
                    "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT", "LONG1", "PROTO", "STOP"}


def inspect_pickle(path):
    """The pickle's opcodes outside torch 1.13's weights_only set, and its globals outside the allow-list."""
    from torch._weights_only_unpickler import _get_allowed_globals
    with open(path, "rb") as f:
        raw = f.read()
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        pkl = z.read(name)
        # each record's data offset: local header (30) + name + local extra field
        aligned = all((i.header_offset + 30 + len(i.filename.encode()) + struct.unpack("<H", raw[i.header_offset + 28:i.header_offset + 30])[0]) % 64 == 0
                      for i in z.infolist())
    ops, globs = set(), set()
    for op, arg, _ in pickletools.genops(pkl):
        ops.add(op.name)
        if op.name == "GLOBAL":
            globs.add(arg.replace(" ", "."))
    allowed = set(_get_allowed_globals().keys())
    return {"crc_ok": bad is None, "aligned": aligned, "opcodes_outside_weights_only_113": sorted(ops - WEIGHTS_ONLY_113), "globals_outside_allow_list": sorted(globs - allowed)}


def load(path):
    out = {"inspect": inspect_pickle(path)}
    try:
        out["weights_only"] = describe(torch.load(path, weights_only=True))
    except Exception as e:  # report, the test decides
        out["weights_only_error"] = str(e)[-200:]
    out["plain"] = describe(torch.load(path))
    return out


def official(out_path, ts_path):
    res = {"torch": torch.__version__}
    torch.manual_seed(0)
    model = DiT(**TINY)
    res["parameters"] = [n for n, _ in model.named_parameters()]
    res["state_dict"] = list(model.state_dict().keys())
    res["requires_grad"] = [n for n, p in model.named_parameters() if p.requires_grad]

    # 2. the checkpoint dit-ts wrote
    if ts_path:
        ck = torch.load(ts_path)
        res["ts_load"] = load(ts_path)
        m = DiT(**ck["args"]["dit_kwargs"])
        m.load_state_dict(ck["model"], strict=True)
        ema = DiT(**ck["args"]["dit_kwargs"])
        ema.load_state_dict(ck["ema"], strict=True)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0)
        opt.load_state_dict(ck["opt"])
        res["ts_opt_group"] = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
        res["ts_opt_state"] = {n: {"step": float(opt.state[p]["step"]), "exp_avg_sum": float(opt.state[p]["exp_avg"].double().sum()),
                                   "exp_avg_sq_sum": float(opt.state[p]["exp_avg_sq"].double().sum())} for n, p in m.named_parameters() if p in opt.state}
        x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([3, 500]), torch.tensor([1, 10])
        m(x, t, y).square().mean().backward()
        opt.step()  # the loaded state drives a real update
        res["ts_step_after"] = float(next(iter(opt.state.values()))["step"])

    # 3. a real train.py checkpoint after 2 AdamW steps
    torch.manual_seed(1)
    for p in model.parameters():
        if p.requires_grad:
            p.data.normal_(0, 0.05)
    ema = DiT(**TINY)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-6, weight_decay=0)
    for _ in range(2):
        x, t, y = torch.randn(2, 4, 8, 8), torch.randint(0, 1000, (2,)), torch.randint(0, 11, (2,))
        opt.zero_grad()
        model(x, t, y).square().mean().backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(0.9).add_(pm, alpha=0.1)
    args = argparse.Namespace(data_path="/data/imagenet/train", results_dir="results", model="DiT-S/2", image_size=64, num_classes=10, epochs=1400,
                              global_batch_size=256, global_seed=0, vae="ema", num_workers=4, log_every=100, ckpt_every=50_000)
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "args": args}, out_path)
    exp = {}
    for k, v in model.state_dict().items():
        exp["model." + k] = v
    for k, v in ema.state_dict().items():
        exp["ema." + k] = v
    names = {p: n for n, p in model.named_parameters()}
    for p, s in opt.state.items():
        exp["adam.exp_avg." + names[p]] = s["exp_avg"]
        exp["adam.exp_avg_sq." + names[p]] = s["exp_avg_sq"]
    write_safetensors(out_path + ".expected.safetensors", exp)
    res["written"] = out_path
    return res


def main():
    task, *rest = sys.argv[1:]
    if task == "load":
        print(json.dumps({p: load(p) for p in rest}))
    elif task == "official":
        print(json.dumps(official(rest[0], rest[1] if len(rest) > 1 else None)))
    else:
        raise SystemExit(f"unknown task {task}")


if __name__ == "__main__":
    main()
