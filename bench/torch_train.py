"""
PyTorch baseline for the training step: the official train.py step in PyTorch
eager on the same machine, timed like `npm run bench:train` (one warm-up step,
then the median of --runs, at least 5):

    x_t = q_sample(x_0, t, ε);  loss = training_losses(model, x_0, t, dict(y=y), ε)["loss"].mean()
    opt.zero_grad(); loss.backward(); opt.step()                # torch.optim.AdamW(lr=1e-4, weight_decay=0)
    update_ema(ema, model)                                      # ema ← 0.9999·ema + 0.0001·p

on random 32×32×4 latents (no VAE: the latents are given, as with extracted
latents), uniform t, labels dropped to the null class with probability 0.1 as
the official LabelEmbedder does in training mode. The model is bench/torch_dit.py's
transcription of the official models.py; `training_losses` is transcribed below
from the official diffusion/gaussian_diffusion.py for create_diffusion("")
(1000 linear-β steps, learned-range σ, hybrid loss mse + vb).

    /usr/bin/python3 bench/torch_train.py --model DiT-S/2 --batch 8 [--runs 5] [--threads 2]
    /usr/bin/python3 bench/torch_train.py --check test/fixtures/train-reference/tiny_adamw

--check runs a train-reference fixture case (see its README) through this
transcription and prints how far the losses and parameter updates land from
the official ones, so the timed code is known to compute the official step.

Prints one JSON line {"model", "batch", "median_ms", "img_per_s", "gflops_per_s",
"runs_ms", "torch", "threads", "blas", "note"}. Debian's python3-torch runs its
matrix products on OpenBLAS (libopenblas0-pthread); the "blas" field says which
library the process loaded. Not part of the project: a cross-check anyone can rerun.
"""
import argparse
import copy
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_dit import CONFIGS, GFLOPS, DiT  # noqa: E402

GFLOPS.update({"DiT-S/4": 1.41, "DiT-S/8": 0.36, "DiT-B/4": 5.56, "DiT-B/8": 1.42, "DiT-L/4": 19.70, "DiT-L/8": 5.01,
               "DiT-XL/4": 29.05, "DiT-XL/8": 7.39})


# ---- the official diffusion, create_diffusion("") (guided-diffusion's gaussian_diffusion.py) ----

class Diffusion:
    def __init__(self, steps=1000):
        scale = 1000 / steps
        betas = np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)  # "linear"
        self.num_timesteps = steps
        alphas = 1.0 - betas
        ac = np.cumprod(alphas, axis=0)
        ac_prev = np.append(1.0, ac[:-1])
        self.betas = betas
        self.sqrt_alphas_cumprod = np.sqrt(ac)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - ac)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / ac)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / ac - 1)
        posterior_variance = betas * (1.0 - ac_prev) / (1.0 - ac)
        self.posterior_log_variance_clipped = np.log(np.append(posterior_variance[1], posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(ac_prev) / (1.0 - ac)
        self.posterior_mean_coef2 = (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac)
        self.timestep_map = torch.arange(steps)  # SpacedDiffusion with every step kept: the identity map

    def q_sample(self, x_start, t, noise):
        return _extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start + \
            _extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise

    def q_posterior_mean_variance(self, x_start, x_t, t):
        mean = _extract(self.posterior_mean_coef1, t, x_t.shape) * x_start + _extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        return mean, _extract(self.posterior_log_variance_clipped, t, x_t.shape)

    def p_mean_variance(self, model_output, x, t):  # LEARNED_RANGE, EPSILON, clip_denoised=False
        C = x.shape[1]
        model_output, model_var_values = torch.split(model_output, C, dim=1)
        min_log = _extract(self.posterior_log_variance_clipped, t, x.shape)
        max_log = _extract(np.log(self.betas), t, x.shape)
        frac = (model_var_values + 1) / 2
        model_log_variance = frac * max_log + (1 - frac) * min_log
        pred_xstart = _extract(self.sqrt_recip_alphas_cumprod, t, x.shape) * x - _extract(self.sqrt_recipm1_alphas_cumprod, t, x.shape) * model_output
        model_mean, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return model_mean, model_log_variance

    def vb_terms_bpd(self, model_output, x_start, x_t, t):
        true_mean, true_log_variance_clipped = self.q_posterior_mean_variance(x_start, x_t, t)
        mean, log_variance = self.p_mean_variance(model_output, x_t, t)
        kl = normal_kl(true_mean, true_log_variance_clipped, mean, log_variance)
        kl = mean_flat(kl) / np.log(2.0)
        decoder_nll = -discretized_gaussian_log_likelihood(x_start, means=mean, log_scales=0.5 * log_variance)
        decoder_nll = mean_flat(decoder_nll) / np.log(2.0)
        return torch.where((t == 0), decoder_nll, kl)

    def training_losses(self, model, x_start, t, model_kwargs, noise):  # loss_type MSE (learned σ, not rescaled)
        x_t = self.q_sample(x_start, t, noise)
        model_output = model(x_t, self.timestep_map[t], **model_kwargs)  # _WrappedModel maps t
        C = x_t.shape[1]
        model_output, model_var_values = torch.split(model_output, C, dim=1)
        frozen_out = torch.cat([model_output.detach(), model_var_values], dim=1)  # vb must not move the mean
        vb = self.vb_terms_bpd(frozen_out, x_start, x_t, t)
        mse = mean_flat((noise - model_output) ** 2)
        return {"loss": mse + vb, "mse": mse, "vb": vb}


def _extract(arr, timesteps, broadcast_shape):
    res = torch.from_numpy(arr).to(device=timesteps.device)[timesteps].float()
    while len(res.shape) < len(broadcast_shape):
        res = res[..., None]
    return res + torch.zeros(broadcast_shape, device=timesteps.device)


def mean_flat(tensor):
    return tensor.mean(dim=list(range(1, len(tensor.shape))))


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + ((mean1 - mean2) ** 2) * torch.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x, *, means, log_scales):
    centered_x = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered_x + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered_x - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12))))


@torch.no_grad()
def update_ema(ema_model, model, decay=0.9999):  # train.py
    ema_params = dict(ema_model.named_parameters())
    for name, param in model.named_parameters():
        ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)


class Trainer:
    """train.py's loop body for one batch (labels already dropped where `drop`)."""

    def __init__(self, model, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, ema_decay=0.9999):
        self.model = model.train()
        self.ema = copy.deepcopy(model)
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.diffusion = Diffusion()
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.ema_decay = ema_decay

    def step(self, x, t, y, noise):
        loss_dict = self.diffusion.training_losses(self.model, x, t, dict(y=y), noise)
        loss = loss_dict["loss"].mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        update_ema(self.ema, self.model, self.ema_decay)
        return loss_dict, loss


# ---- --check: a train-reference fixture case ----

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtypes[v["dtype"]]).reshape(v["shape"]).copy())
    return out


RENAME = {"x_embedder.proj.": "x_embedder.", "t_embedder.mlp.": "t_mlp.", "y_embedder.embedding_table.": "y_table.",
          "final_layer.linear.": "linear.", "final_layer.adaLN_modulation.": "final_adaLN."}


def to_ours(name):
    for a, b in RENAME.items():
        if name.startswith(a):
            return b + name[len(a):]
    return name


def check(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    k = cfg["dit_kwargs"]
    assert k.get("learn_sigma", True) and int(k.get("mlp_ratio", 4)) == 4, "only the official block with learned σ"
    model = DiT(k["depth"], k["hidden_size"], k["num_heads"], k["patch_size"], k["input_size"], k["in_channels"], k["num_classes"])
    init = read_safetensors(os.path.join(case_dir, "weights.safetensors"))
    sd = {to_ours(n): v for n, v in init.items()}
    model.load_state_dict({n: v.reshape(p.shape) for n, p in model.state_dict().items() for v in [sd[n]]})
    o = cfg["optimizer"]
    tr = Trainer(model, o["lr"], tuple(o["betas"]), o["eps"], o["weight_decay"], cfg["ema_decay"])
    steps = read_safetensors(os.path.join(case_dir, "steps.safetensors"))
    worst_loss, worst_update = 0.0, 0.0
    for i in range(cfg["steps"]):
        y = torch.where(steps[f"step{i}.drop"] == 1, torch.full_like(steps[f"step{i}.y"], k["num_classes"]), steps[f"step{i}.y"])
        d, loss = tr.step(steps[f"step{i}.x"], steps[f"step{i}.t"], y, steps[f"step{i}.noise"])
        want = steps[f"step{i}.loss"].double().item()
        worst_loss = max(worst_loss, abs(loss.item() - want) / abs(want))
        for n, v in init.items():
            if n == "pos_embed":
                continue
            got = dict(model.named_parameters())[to_ours(n)].detach().double().flatten() - v.double().flatten()
            ref = steps[f"step{i}.param.{n}"].double().flatten() - v.double().flatten()
            worst_update = max(worst_update, ((got - ref).norm() / ref.norm()).item())
    ema = dict(tr.ema.named_parameters())
    worst_ema = max((((ema[to_ours(n)].double().flatten() - v.double().flatten()) - (steps[f"ema.{n}"].double().flatten() - v.double().flatten())).norm()
                     / (steps[f"ema.{n}"].double().flatten() - v.double().flatten()).norm()).item() for n, v in init.items() if n != "pos_embed")
    ok = worst_loss <= 1e-5 and worst_update <= 1e-3 and worst_ema <= 1e-3
    print(json.dumps({"case": os.path.basename(os.path.normpath(case_dir)), "steps": cfg["steps"], "loss_rel_max": worst_loss,
                      "update_rel_l2_max": worst_update, "ema_rel_l2_max": worst_ema, "ok": ok}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="DiT-S/2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads() if torch.get_num_threads() > 1 else 2)
    ap.add_argument("--check", metavar="CASE_DIR", help="run a train-reference fixture case instead of timing")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        sys.exit(check(args.check))
    if args.runs < 5:
        ap.error(f"--runs must be at least 5, got {args.runs}")
    size, patch = args.model.removeprefix("DiT-").split("/")
    torch.manual_seed(0)
    num_classes = 1000
    tr = Trainer(DiT(*CONFIGS[size], int(patch), input_size=32, in_channels=4, num_classes=num_classes))
    N = args.batch
    x = torch.randn(N, 4, 32, 32)
    noise = torch.randn(N, 4, 32, 32)
    labels = torch.randint(0, num_classes, (N,))

    def one_step():
        t = torch.randint(0, tr.diffusion.num_timesteps, (N,))
        y = torch.where(torch.rand(N) < 0.1, num_classes, labels)  # LabelEmbedder.token_drop in training mode
        tr.step(x, t, y, noise)

    one_step()  # warm-up
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        one_step()
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    gflop = 3 * GFLOPS.get(args.model, float("nan")) * 2 * N  # 3 × forward, 2 FLOPs per multiply-accumulate
    blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "other"
    print(json.dumps({"model": args.model, "batch": N, "median_ms": round(med, 1), "img_per_s": round(N / med * 1000, 2),
                      "gflops_per_s": round(gflop / med * 1000, 1), "runs_ms": [round(v, 1) for v in times],
                      "torch": torch.__version__, "threads": args.threads, "blas": blas,
                      "note": "PyTorch eager; Debian's torch runs its matmuls on OpenBLAS (libopenblas0-pthread)" if blas == "openblas" else "PyTorch eager"}))


if __name__ == "__main__":
    main()
