/**
 * The fixed 2-D sin-cos position table against the official
 * `get_2d_sincos_pos_embed` (numpy, float64) and its float32 cast (what DiT
 * stores in `pos_embed`): every tensor of
 * `<fixture root>/dit-reference/posembed/pos_embed.safetensors` is one case,
 * named `d{D}_g{grid}[_first{rows}][_f32]`.
 *
 * Bounds: float64 tables max|got − want| ≤ 1e-14 (numpy's `10000**x` and
 * JavaScript's differ in the last bits); float32 tables within one float32
 * ulp of values in [−1, 1] (6e-8), both for `sincosPosEmbed` and for the
 * `pos_embed` that `initParams` gives a model.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initParams, readSafetensors, type DiTConfig } from "../../src/index.js";
import { sincosPosEmbed } from "../../src/model/embeddings.js";
import { fixturePath, fixtureSkip } from "../fixture-root.js";

const FILE = "dit-reference/posembed/pos_embed.safetensors";
const F64_BOUND = 1e-14;
const F32_BOUND = 6e-8;

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, `length ${got.length} vs ${want.length}`);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(Number(got[i]) - Number(want[i])));
  return Number.isNaN(m) ? Infinity : m;
}

const skip = fixtureSkip(FILE);

describe(`position embedding vs the official sin-cos table: ${FILE}`, { skip }, () => {
  const tensors = skip ? new Map() : readSafetensors(fixturePath(FILE)).tensors;
  it("the file holds at least one table", () => assert.ok(tensors.size > 0));
  for (const [name, want] of tensors) {
    it(name, () => {
      const m = /^d(\d+)_g(\d+)(?:_first(\d+))?(_f32)?$/.exec(name);
      assert.ok(m, `${name}: not a d{D}_g{grid}[_first{rows}][_f32] table`);
      const [D, grid] = [Number(m[1]), Number(m[2])];
      const rows = m[3] === undefined ? grid * grid : Number(m[3]);
      const f32 = m[4] !== undefined;
      assert.deepEqual(want.shape, [rows, D], `${name}: shape`);
      assert.equal(want.dtype, f32 ? "F32" : "F64", `${name}: dtype`);

      const ours = sincosPosEmbed(D, grid).subarray(0, rows * D); // (rows, D), row-major tokens
      const got = f32 ? Float32Array.from(ours) : ours;
      const err = maxAbsDiff(got, want.data as ArrayLike<number>);
      const bound = f32 ? F32_BOUND : F64_BOUND;
      assert.ok(err <= bound, `${name}: sincosPosEmbed max abs error ${err.toExponential(2)} > ${bound}`);

      if (f32) {
        // what a model is given: a (1, T, D) float32 parameter, built for a
        // 1-block model whose token grid is `grid` (patch 2, no label table)
        const c: DiTConfig = {
          inputSize: 2 * grid, patchSize: 2, inChannels: 4, hiddenSize: D, depth: 1, numHeads: 4,
          mlpRatio: 1, classDropoutProb: 0, numClasses: 0, learnSigma: false, block: "in-context",
        };
        const pe = initParams(c, 0).get("pos_embed")!;
        assert.deepEqual(pe.shape, [1, grid * grid, D]);
        const e = maxAbsDiff((pe.data as Float32Array).subarray(0, rows * D), want.data as Float32Array);
        assert.ok(e <= F32_BOUND, `${name}: initParams pos_embed max abs error ${e.toExponential(2)} > ${F32_BOUND}`);
      }
    });
  }
});
