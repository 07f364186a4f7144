/**
 * Parity with diffusers' AutoencoderKL: every case `vae_<case>_config.json`
 * under `<fixture root>/vae-reference/` is run compiled (ONNX Runtime) with
 * both weight files (current and legacy attention names), and eagerly in
 * jax-js; every tensor of its io file is compared with
 * max|got − want| ≤ 1e-4 · max|want| (the fixture README's float32 bound).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { AutoencoderKL, type VaeBackend } from "../../src/vae/autoencoder.js";
import { SCALING_FACTOR, vaeConfigFromDiffusers } from "../../src/vae/config.js";
import { loadVaeStateDict, vaeParamShapes } from "../../src/vae/weights.js";
import { caseSkip, FIXTURE_ROOT } from "../fixture-root.js";
import { setupJax } from "../helpers.js";

const FAMILY = "vae-reference";
const dir = join(FIXTURE_ROOT, FAMILY);
const cases = existsSync(dir)
  ? readdirSync(dir)
      .map((f) => /^vae_(.+)_config\.json$/.exec(f)?.[1])
      .filter((c): c is string => c !== undefined)
      .sort()
  : [];

const TOL = 1e-4;
const INPUTS = new Set(["x", "noise", "z_dit"]);

function maxAbsErr(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; scale: number } {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(Number(got[i]) - Number(want[i])));
    scale = Math.max(scale, Math.abs(Number(want[i])));
  }
  return { err: Number.isNaN(err) ? Infinity : err, scale };
}

const scale = (t: Tensor, s: number) => new Tensor(Float32Array.from(t.data as Float32Array, (v) => v * s), [...t.shape]);
const div = (t: Tensor, s: number) => new Tensor(Float32Array.from(t.data as Float32Array, (v) => v / s), [...t.shape]);

describe(`VAE parity: ${FAMILY}`, { skip: cases.length === 0 ? `no vae_<case>_config.json under ${dir}` : false }, () => {
  before(setupJax);
  for (const name of cases) {
    const cfgJson = JSON.parse(readFileSync(join(dir, `vae_${name}_config.json`), "utf8")) as {
      diffusers_config: Record<string, unknown>;
      weights_file?: string;
      weights_legacy_attn_names_file?: string;
      io_file?: string;
    };
    const config = vaeConfigFromDiffusers(cfgJson.diffusers_config);
    const variants: { label: string; file: string; backend: VaeBackend }[] = [
      { label: "current names", file: cfgJson.weights_file ?? `vae_${name}_weights.safetensors`, backend: "onnx" },
    ];
    const legacy = cfgJson.weights_legacy_attn_names_file;
    if (legacy && existsSync(join(dir, legacy))) variants.push({ label: "legacy attention names", file: legacy, backend: "onnx" });
    variants.push({ label: "current names", file: variants[0]!.file, backend: "eager" });

    it(`${name}: the parameter list of the config matches the fixture's`, () => {
      const params = (JSON.parse(readFileSync(join(dir, `vae_${name}_config.json`), "utf8")) as { params: Record<string, number[]> }).params;
      const want = new Map(Object.entries(params));
      const got = vaeParamShapes(config);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${name}: parameter names`);
      for (const [k, s] of got) assert.deepEqual(s, want.get(k), `${name}: ${k} shape`);
    });

    for (const v of variants) {
      const skip = caseSkip(dir, [v.file, cfgJson.io_file ?? `vae_${name}_io.safetensors`]);
      it(`${name} (${v.backend}, ${v.label}): moments, posterior, latent sample, every intermediate, decoded and recon`, { skip }, async () => {
        const vae = new AutoencoderKL(config, loadVaeStateDict(join(dir, v.file)), { backend: v.backend });
        try {
          const { tensors } = readSafetensors(join(dir, cfgJson.io_file ?? `vae_${name}_io.safetensors`));
          const get = (k: string) => {
            const t = tensors.get(k);
            assert.ok(t, `${name}: io file lacks '${k}'`);
            return new Tensor(toFloat32(t.data), t.shape);
          };
          const got = new Map<string, Tensor>();
          const inter = new Map<string, Tensor>();
          const moments = await vae.moments(get("x"), inter);
          const post = await vae.encode(get("x"));
          got.set("moments", moments);
          got.set("mean", post.mean);
          got.set("logvar", post.logvar);
          got.set("std", post.std);
          got.set("latent_mode", post.mode());
          const sample = post.sample(get("noise"));
          got.set("latent_sample", sample);
          got.set("latent_sample_scaled", scale(sample, SCALING_FACTOR));
          const zUnscaled = div(get("z_dit"), SCALING_FACTOR);
          got.set("z_unscaled", zUnscaled);
          got.set("decoded", await vae.decode(zUnscaled, inter));
          got.set("recon", await vae.decode(post.mode()));
          for (const [k, t] of inter) got.set(k, t);
          let compared = 0;
          for (const [k, w] of tensors) {
            if (INPUTS.has(k)) continue;
            const g = got.get(k);
            assert.ok(g, `${name}: no computed value for fixture tensor '${k}'`);
            assert.deepEqual(g.shape, w.shape, `${name}: ${k} shape`);
            const { err, scale: s } = maxAbsErr(g.data as Float32Array, toFloat32(w.data));
            assert.ok(err <= TOL * s, `${name} (${v.backend}, ${v.label}): ${k} max|Δ| ${err.toExponential(2)} > ${TOL} · ${s.toExponential(2)}`);
            compared++;
          }
          assert.ok(compared > 0, `${name}: no output tensors compared`);
        } finally {
          await vae.dispose();
        }
      });
    }
  }
});
