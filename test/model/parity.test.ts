/**
 * Parity with the official PyTorch DiT: every model fixture under the fixture
 * root (dit-reference/models/<case>/) is run through the compiled ONNX Runtime
 * path and the jax-js eager path, and every tensor it holds is compared.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readSafetensors, toFloat32, toInt32, type StTensor } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { duplicateFirstHalf } from "../../src/model/guidance.js";
import { DiT, type Backend, type Intermediates } from "../../src/model/runner.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { caseSkip, FIXTURE_ROOT, fixtureCases } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const FAMILY = "dit-reference/models";
const cases = fixtureCases(FAMILY);

const f32 = (t: StTensor) => new Tensor(toFloat32(t.data), t.shape);
const i32 = (t: StTensor) => new Tensor(toInt32(t.data), t.shape);

/** Bound per tensor: 1e-5 compiled (1e-4 for the timestep embedding, whose sin/cos of t≈1000 amplify rounding), 1e-4 eager. */
function bound(backend: Backend, name: string): number {
  if (backend === "eager") return 1e-4;
  return name === "inter.t_freq" || name === "inter.t_emb" || name === "inter.c" ? 1e-4 : 1e-5;
}

describe(`model parity: ${FAMILY}`, { skip: cases.length === 0 ? `no fixtures under ${join(FIXTURE_ROOT, FAMILY)}` : false }, () => {
  before(setupJax);
  for (const name of cases) {
    const dir = join(FIXTURE_ROOT, FAMILY, name);
    for (const backend of ["onnx", "eager"] as Backend[]) {
      it(`${name} (${backend}): forward, forward_with_cfg and every intermediate`, { skip: caseSkip(dir, ["config.json", "weights.safetensors", "io.safetensors"]) }, async () => {
        const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: Record<string, unknown> };
        const config = configFromKwargs(cfg.dit_kwargs);
        const model = new DiT(config, loadStateDict(join(dir, "weights.safetensors")), { backend });
        const { tensors } = readSafetensors(join(dir, "io.safetensors"));
        const get = (k: string) => {
          const t = tensors.get(k);
          assert.ok(t, `${name}: io.safetensors lacks '${k}'`);
          return t;
        };
        const got = new Map<string, Tensor>();
        const inter: Intermediates = new Map();
        const y = tensors.has("input.y") ? i32(get("input.y")) : undefined;
        got.set("out.forward", await model.forward(f32(get("input.x")), f32(get("input.t")), y, { intermediates: inter }));
        for (const [k, v] of inter) got.set(`inter.${k}`, v);
        if (tensors.has("cfg.x")) {
          const scale = (get("cfg.scale").data as Float32Array)[0]!;
          const [cx, ct, cy] = [f32(get("cfg.x")), f32(get("cfg.t")), i32(get("cfg.y"))];
          got.set("out.forward_with_cfg", await model.forwardWithCfg(cx, ct, cy, scale, "official"));
          got.set("cfg.model_out", await model.forward(duplicateFirstHalf(cx), ct, cy));
        }
        const inputs = new Set(["input.x", "input.t", "input.y", "cfg.x", "cfg.t", "cfg.y", "cfg.scale"]);
        let compared = 0;
        for (const [k, want] of tensors) {
          if (inputs.has(k)) continue;
          const g = got.get(k);
          assert.ok(g, `${name}: no computed value for fixture tensor '${k}'`);
          assert.deepEqual(g.shape, want.shape, `${name}: ${k} shape`);
          const err = relErr(g.data as Float32Array, toFloat32(want.data));
          assert.ok(err <= bound(backend, k), `${name}: ${k} relative error ${err.toExponential(2)} > ${bound(backend, k)}`);
          compared++;
        }
        assert.ok(compared > 0, `${name}: no output tensors compared`);
        await model.dispose();
      });
    }
  }
});
