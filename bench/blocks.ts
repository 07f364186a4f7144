/**
 * Benchmark: one DiT-S block (N=8, T=256, D=384) and one DiT-XL block (N=2,
 * T=256, D=1152), forward and forward+backward, compiled (jax-js → ONNX
 * Runtime) vs jax-js eager, and the forward against the same block built
 * directly from native ONNX ops.
 */
import { numpy as np, tree, valueAndGrad, type Array as JaxArray, type JsTree } from "@jax-js/jax";
import { adaLNZeroBlock, blockParamShapes, type BlockParams, type ParamTree } from "../src/model/blocks.js";
import { compile } from "../src/runtime/compile.js";
import { Session } from "../src/runtime/session.js";
import { Tensor } from "../src/runtime/tensor.js";
import { Rng } from "../src/util/rng.js";
import { nativeBlockGraph } from "./native-block.js";
import { timeInterleaved, timeIt } from "./timing.js";

export interface BlockCase {
  name: string;
  N: number;
  T: number;
  D: number;
  heads: number;
}

export const BLOCK_CASES: BlockCase[] = [
  { name: "DiT-S block", N: 8, T: 256, D: 384, heads: 6 },
  { name: "DiT-XL block", N: 2, T: 256, D: 1152, heads: 16 },
];

/** Forward multiply-accumulates of one adaLN-Zero block for a batch. */
export function blockMacs({ N, T, D }: BlockCase): number {
  return N * (T * D * 3 * D + 2 * T * T * D + T * D * D + 8 * T * D * D + 6 * D * D + 2 * T * D);
}

function randomParams(rng: Rng, shapes: ParamTree<number[]>): ParamTree<Tensor> {
  const out: ParamTree<Tensor> = {};
  for (const [k, v] of Object.entries(shapes)) {
    out[k] = Array.isArray(v) ? new Tensor(rng.normals(v.reduce((a, b) => a * b, 1), 0.02), v) : randomParams(rng, v);
  }
  return out;
}

const toJax = (t: Tensor) => np.array(t.data as Float32Array).reshape(t.shape);

export interface BlockRow {
  case: string;
  pass: "forward" | "forward+backward";
  path: string;
  ms: number;
  gflopsPerS: number;
}

/** The random weights, inputs and cotangent of a block case (seeded: the same for every timing). */
function blockInputs({ N, T, D }: BlockCase) {
  const rng = new Rng(1);
  const params = randomParams(rng, blockParamShapes("adaLN-Zero", D));
  const x = new Tensor(rng.normals(N * T * D), [N, T, D]);
  const c = new Tensor(rng.normals(N * D), [N, D]);
  const w = new Tensor(rng.normals(N * T * D), [N, T, D]);
  return { params, x, c, w };
}

/**
 * The compiled block forward+backward exactly as `benchBlock` times it (same
 * random weights, inputs and cotangent), for timing alongside other work;
 * `flops` is what one call computes (3 × the forward, 2 per multiply-accumulate).
 */
export function compiledBlockFwdBwd(bc: BlockCase): { run: () => Promise<unknown>; flops: number; dispose: () => Promise<void> } {
  const { heads } = bc;
  const { params, x, c, w } = blockInputs(bc);
  const loss = (p: BlockParams, xx: JaxArray, cc: JaxArray, ww: JaxArray) => np.sum(adaLNZeroBlock(p, xx, cc, heads).mul(ww));
  const cs = compile(valueAndGrad(loss, { argnums: [0, 1] }) as never);
  return { run: () => cs(params, x, c, w), flops: 2 * 3 * blockMacs(bc), dispose: () => cs.dispose() };
}

export async function benchBlock(bc: BlockCase, opts: { eager: boolean; runs: number }): Promise<BlockRow[]> {
  const { N, T, D, heads } = bc;
  const { params, x, c, w } = blockInputs(bc);
  const fwd = (p: BlockParams, xx: JaxArray, cc: JaxArray) => adaLNZeroBlock(p, xx, cc, heads);
  // Loss with a random cotangent, differentiated w.r.t. parameters and input (as in training).
  const loss = (p: BlockParams, xx: JaxArray, cc: JaxArray, ww: JaxArray) => np.sum(fwd(p, xx, cc).mul(ww));
  const step = valueAndGrad(loss, { argnums: [0, 1] });
  const macs = blockMacs(bc);
  const rows: BlockRow[] = [];
  const row = (pass: BlockRow["pass"], path: string, ms: number, factor: number) =>
    rows.push({ case: bc.name, pass, path, ms, gflopsPerS: (2 * macs * factor) / (ms * 1e6) });

  const cf = compile(fwd as never);
  const cs = compile(step as never);

  // Native ONNX reference: weights transposed to (in, out) for MatMul.
  const tT = (t: Tensor) => {
    const [o, i] = t.shape as [number, number];
    const out = new Float32Array(o * i);
    for (let r = 0; r < o; r++) for (let s = 0; s < i; s++) out[s * o + r] = (t.data as Float32Array)[r * i + s]!;
    return new Tensor(out, [i, o]);
  };
  const P = params as unknown as { [k: string]: { [k: string]: { weight: Tensor; bias: Tensor } } };
  const lins = [P.adaLN_modulation!["1"]!, P.attn!.qkv!, P.attn!.proj!, P.mlp!.fc1!, P.mlp!.fc2!];
  const native = await Session.create(nativeBlockGraph(N, T, D, heads).encode());
  const nativeInputs = [x, c, ...lins.flatMap((l) => [tT(l.weight), l.bias])];
  // compiled and native forward interleaved: their ratio is the number that matters, under the same load
  const [tc, tn] = await timeInterleaved([() => cf(params, x, c), () => native.run(nativeInputs)], { runs: opts.runs });
  row("forward", "compiled", tc!.medianMs, 1);
  row("forward", "native ONNX", tn!.medianMs, 1);
  row("forward+backward", "compiled", (await timeIt(() => cs(params, x, c, w), { runs: opts.runs })).medianMs, 3);

  if (opts.eager) {
    const jp = tree.map(toJax as never, params as never) as unknown as BlockParams;
    const [jx, jc, jw] = [toJax(x), toJax(c), toJax(w)];
    const eagerFwd = () => fwd(tree.ref(jp as never) as never, jx.ref, jc.ref).dataSync();
    const eagerStep = () => {
      const [v, g] = step(tree.ref(jp as never) as never, jx.ref, jc.ref, jw.ref);
      v.dataSync();
      for (const leaf of tree.leaves(g as JsTree<JaxArray>)) leaf.dataSync();
    };
    row("forward", "jax-js eager", (await timeIt(eagerFwd, { runs: opts.runs })).medianMs, 1);
    row("forward+backward", "jax-js eager", (await timeIt(eagerStep, { runs: opts.runs })).medianMs, 3);
    tree.dispose(jp as never);
    for (const a of [jx, jc, jw]) a.dispose();
  }
  await cf.dispose();
  await cs.dispose();
  await native.release();
  return rows;
}
