/**
 * The official train.py checkpoint layout, both ways: the parameter order of
 * the official DiT, write → read round trips (bit-identical), PyTorch 1.13's
 * AdamW state-dict layout, train.py files written by torch (the repository's
 * fixture, and one made here by real PyTorch after 2 AdamW steps),
 * `trainCheckpointToOfficial` from a dit-ts training checkpoint, and real
 * PyTorch loading what we write into the official model and optimizer
 * (test/io/torch_interop.py; skipped, with the reason, where torch is absent).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { officialParameterOrder, OfficialCheckpointError, readOfficialCheckpoint, trainCheckpointToOfficial, writeOfficialCheckpoint } from "../../src/io/official-checkpoint.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import type { StateDict } from "../../src/io/state-dict.js";
import { loadTorchCheckpoint } from "../../src/io/torch-checkpoint.js";
import { BLOCK_TYPES, configFromKwargs, type DiTKwargs } from "../../src/model/config.js";
import { paramShapes } from "../../src/model/params.js";
import { Tensor } from "../../src/runtime/tensor.js";
import type { AdamWOptions, TrainState } from "../../src/train/state.js";
import { Rng } from "../../src/util/rng.js";
import { REPO_FIXTURE_ROOT } from "../fixture-root.js";
import { runTorchInterop, type InteropResult } from "./torch-interop.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-official-ckpt-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** torch_interop.py's TINY config. */
const TINY: DiTKwargs = { input_size: 8, patch_size: 2, in_channels: 4, hidden_size: 32, depth: 2, num_heads: 2, class_dropout_prob: 0.1, num_classes: 10, learn_sigma: true };
const ADAMW: AdamWOptions = { lr: 3e-4, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0 };

/** A random training state of the tiny model at `step` (moments for every parameter but pos_embed). */
function makeState(step: number, seed = 1, kwargs: DiTKwargs = TINY): TrainState {
  const rng = new Rng(seed);
  const rand = (shape: number[], scale = 0.05) => new Tensor(rng.normals(shape.reduce((a, b) => a * b, 1), scale), shape);
  const shapes = paramShapes(configFromKwargs(kwargs));
  const model: StateDict = new Map();
  const ema: StateDict = new Map();
  const expAvg: StateDict = new Map();
  const expAvgSq: StateDict = new Map();
  for (const [n, s] of shapes) {
    model.set(n, rand(s));
    ema.set(n, rand(s));
    if (n === "pos_embed" || step === 0) continue;
    expAvg.set(n, rand(s, 1e-3));
    const v = rand(s, 1e-6);
    for (let i = 0; i < v.data.length; i++) v.data[i] = Math.abs(v.data[i]!);
    expAvgSq.set(n, v);
  }
  return { step, model, ema, adam: { step, expAvg, expAvgSq } };
}

const bytes = (t: Tensor | { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function assertSameDict(got: StateDict, want: StateDict, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: names`);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.deepEqual(g.shape, w.shape, `${what} ${k}: shape`);
    assert.ok(bytes(g).equals(bytes(w)), `${what} ${k}: bytes differ`);
  }
}

describe("officialParameterOrder", () => {
  for (const block of BLOCK_TYPES) {
    it(`${block}: recovers model.state_dict() order (paramShapes) from any input order`, () => {
      const names = [...paramShapes(configFromKwargs({ ...TINY, depth: 3, block })).keys()];
      const shuffled = [...names].reverse();
      new Rng(3).uniforms(names.length, 0, 1).forEach((u, i) => {
        const j = Math.floor(u * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      });
      assert.deepEqual(officialParameterOrder(shuffled), names);
    });
  }

  it("blocks sort numerically (blocks.10 after blocks.9); unknown names keep their order at the end", () => {
    const got = officialParameterOrder(["zeta", "blocks.10.attn.qkv.weight", "blocks.9.mlp.fc1.bias", "alpha", "blocks.9.attn.qkv.weight", "pos_embed"]);
    assert.deepEqual(got, ["pos_embed", "blocks.9.attn.qkv.weight", "blocks.9.mlp.fc1.bias", "blocks.10.attn.qkv.weight", "zeta", "alpha"]);
  });
});

describe("writeOfficialCheckpoint / readOfficialCheckpoint", () => {
  it("round trip: model, EMA, moments bit-identical; step, args and AdamW settings kept", () => {
    const state = makeState(7);
    const args = { model: "DiT-S/2", lr: 3e-4, nested: { list: [1, "a", null] }, skipped: undefined };
    const path = join(tmp, "rt.pt");
    writeOfficialCheckpoint(path, state, args, ADAMW);
    const back = readOfficialCheckpoint(path);
    assert.equal(back.state.step, 7);
    assert.equal(back.state.adam.step, 7);
    assertSameDict(back.state.model, state.model, "model");
    assertSameDict(back.state.ema, state.ema, "ema");
    assertSameDict(back.state.adam.expAvg, state.adam.expAvg, "exp_avg");
    assertSameDict(back.state.adam.expAvgSq, state.adam.expAvgSq, "exp_avg_sq");
    assert.deepEqual(back.args, { model: "DiT-S/2", lr: 3e-4, nested: { list: [1, "a", null] } });
    assert.deepEqual(back.adam, ADAMW);
    assert.deepEqual([...back.state.model.keys()], [...paramShapes(configFromKwargs(TINY)).keys()], "state_dict order");
  });

  it("the layout is PyTorch 1.13's: {model, ema, opt, args}, AdamW param_groups keys, state for all but pos_embed, float32 scalar step", () => {
    const state = makeState(3);
    const path = join(tmp, "layout.pt");
    writeOfficialCheckpoint(path, state, { a: 1 }, ADAMW);
    const ck = loadTorchCheckpoint(path) as Map<string, any>;
    assert.deepEqual([...ck.keys()], ["model", "ema", "opt", "args"]);
    const names = [...paramShapes(configFromKwargs(TINY)).keys()];
    assert.deepEqual([...ck.get("model").keys()], names);
    const opt = ck.get("opt") as Map<string, any>;
    assert.deepEqual([...opt.keys()], ["state", "param_groups"]);
    const groups = opt.get("param_groups") as Map<string, unknown>[];
    assert.equal(groups.length, 1);
    // printed from torch 1.13.1's AdamW(...).state_dict() (see the report in test/io/torch_interop.py's cross-check)
    assert.deepEqual([...groups[0]!.keys()], ["lr", "betas", "eps", "weight_decay", "amsgrad", "foreach", "maximize", "capturable", "params"]);
    assert.deepEqual(
      [...groups[0]!.entries()].filter(([k]) => k !== "params"),
      [["lr", 3e-4], ["betas", [0.9, 0.95]], ["eps", 1e-8], ["weight_decay", 0], ["amsgrad", false], ["foreach", null], ["maximize", false], ["capturable", false]],
    );
    assert.deepEqual(groups[0]!.get("params"), names.map((_, i) => i));
    const st = opt.get("state") as Map<number, Map<string, any>>;
    assert.deepEqual([...st.keys()], names.map((_, i) => i).slice(1), "every parameter but pos_embed (index 0)");
    for (const [i, s] of st) {
      assert.deepEqual([...s.keys()], ["step", "exp_avg", "exp_avg_sq"]);
      assert.deepEqual([s.get("step").dtype, s.get("step").shape, [...s.get("step").data]], ["F32", [], [3]]);
      assert.ok(bytes(s.get("exp_avg")).equals(bytes(state.adam.expAvg.get(names[i]!)!)), `exp_avg ${i}`);
    }
  });

  it("step 0: no optimizer state (as torch before its first step); reads back as step 0 with no moments", () => {
    const state = makeState(0);
    const path = join(tmp, "zero.pt");
    writeOfficialCheckpoint(path, state, {}, ADAMW);
    const opt = (loadTorchCheckpoint(path) as Map<string, any>).get("opt");
    assert.equal(opt.get("state").size, 0);
    const back = readOfficialCheckpoint(path);
    assert.equal(back.state.step, 0);
    assert.equal(back.state.adam.expAvg.size, 0);
    assertSameDict(back.state.model, state.model, "model");
  });

  it("refuses inconsistent states with a clear error and writes nothing", () => {
    const path = join(tmp, "bad.pt");
    const cases: [string, (s: TrainState) => void, RegExp][] = [
      ["EMA lacks a parameter", (s) => s.ema.delete("blocks.0.attn.qkv.bias"), /the EMA has no 'blocks\.0\.attn\.qkv\.bias'/],
      ["EMA shape", (s) => s.ema.set("x_embedder.proj.bias", new Tensor(new Float32Array(3), [3])), /ema 'x_embedder\.proj\.bias' has shape \[3\], the model \[32\]/],
      ["moment shape", (s) => s.adam.expAvg.set("final_layer.linear.bias", new Tensor(new Float32Array(2), [2])), /exp_avg 'final_layer\.linear\.bias' has shape \[2\]/],
      ["missing moment", (s) => s.adam.expAvgSq.delete("t_embedder.mlp.0.weight"), /no Adam exp_avg_sq for 't_embedder\.mlp\.0\.weight' \(step 2\)/],
      ["unknown moment", (s) => s.adam.expAvg.set("nope", new Tensor(new Float32Array(1), [1])), /exp_avg has 'nope', which the model does not/],
      ["float64 weights", (s) => s.model.set("pos_embed", new Tensor(new Float64Array(16 * 32), [1, 16, 32])), /model 'pos_embed' is float64, expected float32/],
    ];
    for (const [what, spoil, re] of cases) {
      const s = makeState(2);
      spoil(s);
      assert.throws(() => writeOfficialCheckpoint(path, s, {}, ADAMW), (e: Error) => e instanceof OfficialCheckpointError && re.test(e.message), what);
      assert.ok(!existsSync(path), `${what}: nothing written`);
    }
    assert.throws(() => writeOfficialCheckpoint(path, makeState(1), { when: new Date(0) }, ADAMW), /args\.when: cannot store a Date/);
    assert.ok(!existsSync(path));
  });

  it("reads the repository's train.py fixture (argparse.Namespace args, no optimizer steps yet)", () => {
    const back = readOfficialCheckpoint(join(REPO_FIXTURE_ROOT, "torch", "dit_tiny_p2_train.pt"));
    assert.deepEqual(back.args, { model: "DiT-XL/2", image_size: 256, num_classes: 10, epochs: 1400, global_batch_size: 256 });
    assert.equal(back.state.step, 0);
    assert.deepEqual(back.adam, { lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    // make_dit_checkpoint.py: ema = the tiny_p2 weights, model = 2 × them
    const weights = readSafetensors(join(REPO_FIXTURE_ROOT, "dit-reference", "models", "tiny_p2", "weights.safetensors")).tensors;
    assert.deepEqual([...back.state.ema.keys()], [...weights.keys()]);
    for (const [k, w] of weights) {
      assert.ok(bytes(back.state.ema.get(k)!).equals(bytes(w)), `ema ${k}`);
      assert.deepEqual([...back.state.model.get(k)!.data], [...(w.data as Float32Array)].map((x) => x * 2), `model ${k}`);
    }
  });

  it("refuses files that are not train.py checkpoints of this model, naming the problem", () => {
    const fx = (n: string) => join(REPO_FIXTURE_ROOT, "torch", n);
    assert.throws(() => readOfficialCheckpoint(fx("state_zip.pt")), /no 'model' state dict/);
    // a module with a buffer: its state_dict has 5 entries, its optimizer 4 parameters
    assert.throws(() => readOfficialCheckpoint(fx("train_ckpt.pt")), /the optimizer holds 4 parameters but 'model' has 5/);
    assert.throws(() => readOfficialCheckpoint(fx("malicious_zip.pt")), /refusing to load global 'os\.system'/);
  });
});

describe("trainCheckpointToOfficial", () => {
  /** A dit-ts training checkpoint in the layout of src/train/checkpoint.ts. */
  function writeTrainCheckpoint(path: string, state: TrainState, extraMeta: Record<string, string> = {}): void {
    const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
    const put = (prefix: string, d: StateDict) => d.forEach((t, k) => tensors.set(prefix + k, { data: t.data as Float32Array, shape: t.shape }));
    put("model.", state.model);
    put("ema.", state.ema);
    put("adam.exp_avg.", state.adam.expAvg);
    put("adam.exp_avg_sq.", state.adam.expAvgSq);
    const train = { step: state.step, adam_step: state.adam.step, adam: { lr: 2e-4, betas: [0.9, 0.99], eps: 1e-8, weight_decay: 0 }, seed: 3, data_position: 96, args: { model: "DiT-S/2", ["__proto__"]: { polluted: true }, batch_size: 32 } };
    writeSafetensors(path, tensors, { dit_ts_checkpoint: "1", config: JSON.stringify({ ...TINY, block: "adaLN-Zero" }), train: JSON.stringify(train), ...extraMeta });
  }

  it("writes the official layout from model.*, ema.*, adam.* tensors and the train/config metadata", () => {
    const state = makeState(12, 5);
    const src = join(tmp, "0000012.safetensors");
    writeTrainCheckpoint(src, state);
    const out = join(tmp, "conv", "0000012.pt");
    const summary = trainCheckpointToOfficial(src, out);
    const names = [...paramShapes(configFromKwargs(TINY)).keys()];
    assert.deepEqual(summary, { input: src, output: out, step: 12, tensors: names.length, params: [...state.model.values()].reduce((a, t) => a + t.data.length, 0) });
    const back = readOfficialCheckpoint(out);
    assert.equal(back.state.step, 12);
    assertSameDict(back.state.model, state.model, "model");
    assertSameDict(back.state.ema, state.ema, "ema");
    assertSameDict(back.state.adam.expAvg, state.adam.expAvg, "exp_avg");
    assertSameDict(back.state.adam.expAvgSq, state.adam.expAvgSq, "exp_avg_sq");
    assert.deepEqual(back.adam, { lr: 2e-4, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0 });
    assert.equal(back.args.model, "DiT-S/2");
    assert.equal(back.args.batch_size, 32);
    assert.deepEqual(Object.keys(back.args), ["model", "__proto__", "batch_size", "dit_kwargs", "train_steps"]);
    assert.equal(Object.getPrototypeOf(back.args), Object.prototype);
    assert.deepEqual(back.args.dit_kwargs, { ...TINY, block: "adaLN-Zero" });
    assert.equal(back.args.train_steps, 12);
  });

  it("refuses a safetensors file that is not a training checkpoint, and writes nothing", () => {
    const src = join(tmp, "weights.safetensors");
    writeSafetensors(src, new Map([["pos_embed", { data: new Float32Array(4), shape: [1, 4] }]]));
    const out = join(tmp, "never.pt");
    assert.throws(() => trainCheckpointToOfficial(src, out), /not a dit-ts training checkpoint/);
    const bad = join(tmp, "bad.safetensors");
    writeTrainCheckpoint(bad, makeState(1), { train: "{" });
    assert.throws(() => trainCheckpointToOfficial(bad, out), /unreadable 'train'\/'config' metadata/);
    // valid JSON that is not an object (was a TypeError reading null.adam)
    for (const train of ["null", "[1]", '{"adam":3}']) {
      writeTrainCheckpoint(bad, makeState(1), { train });
      assert.throws(() => trainCheckpointToOfficial(bad, out), (e: unknown) => e instanceof OfficialCheckpointError && e.message.startsWith(`${bad}: `) && /'train' metadata is|train\.adam is not an object/.test(e.message));
    }
    assert.ok(!existsSync(out));
  });
});

// ---------------------------------------------------------------------------
// Real PyTorch: the official module structure and optimizer

describe("real PyTorch: official DiT and AdamW", () => {
  let res: InteropResult;
  const ts = join(tmp, "ts.pt");
  const real = join(tmp, "real.pt");
  const state = makeState(3, 9);
  before(() => {
    writeOfficialCheckpoint(ts, state, { model: "DiT-S/2", dit_kwargs: TINY }, ADAMW);
    res = runTorchInterop(["official", real, ts]);
  });

  it("parameters() order = state_dict() order = officialParameterOrder = paramShapes; pos_embed alone lacks requires_grad", (t) => {
    if (!res.out) return t.skip(res.reason);
    const params = res.out.parameters as string[];
    assert.deepEqual(res.out.state_dict, params);
    assert.deepEqual(params, [...paramShapes(configFromKwargs(TINY)).keys()]);
    assert.deepEqual(officialParameterOrder([...params].reverse()), params);
    assert.deepEqual(res.out.requires_grad, params.slice(1));
    assert.equal(params[0], "pos_embed");
  });

  it("torch loads what we write into the official DiT (strict) and AdamW, and steps on from it", (t) => {
    if (!res.out) return t.skip(res.reason);
    const o = res.out;
    assert.deepEqual(o.ts_opt_group, { lr: 3e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0, amsgrad: false, foreach: null, maximize: false, capturable: false });
    const names = [...state.adam.expAvg.keys()];
    assert.deepEqual(Object.keys(o.ts_opt_state).sort(), names.sort());
    const sum = (t: Tensor) => Array.from(t.data as Float32Array).reduce((a, b) => a + b, 0);
    for (const n of names) {
      const s = o.ts_opt_state[n];
      assert.equal(s.step, 3, `${n} step`);
      for (const [got, want] of [[s.exp_avg_sum, sum(state.adam.expAvg.get(n)!)], [s.exp_avg_sq_sum, sum(state.adam.expAvgSq.get(n)!)]] as const) {
        assert.ok(Math.abs(got - want) <= 1e-12 + 1e-9 * Math.abs(want), `${n}: ${got} vs ${want}`);
      }
    }
    assert.equal(o.ts_step_after, 4);
    const ins = o.ts_load.inspect;
    assert.deepEqual([ins.crc_ok, ins.aligned, ins.globals_outside_allow_list], [true, true, []]);
    // weights_only=True: torch ≥ 2.0 reads it; torch 1.13's weights_only unpickler lacks BINFLOAT (lr, betas, eps are floats)
    assert.deepEqual(ins.opcodes_outside_weights_only_113, ["BINFLOAT"]);
    if (String(o.torch).startsWith("1.")) assert.match(o.ts_load.weights_only_error, /Unsupported operand 71/);
    else assert.equal(o.ts_load.weights_only_error, undefined);
  });

  it("reads a real train.py checkpoint after 2 AdamW steps: Namespace args, settings, step, model, EMA and moments exact", (t) => {
    if (!res.out) return t.skip(res.reason);
    const back = readOfficialCheckpoint(real);
    const want = readSafetensors(`${real}.expected.safetensors`).tensors;
    const group = (prefix: string): StateDict =>
      new Map([...want].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), new Tensor(v.data as Float32Array, v.shape)]));
    assertSameDict(back.state.model, group("model."), "model");
    assertSameDict(back.state.ema, group("ema."), "ema");
    assertSameDict(back.state.adam.expAvg, group("adam.exp_avg."), "exp_avg");
    assertSameDict(back.state.adam.expAvgSq, group("adam.exp_avg_sq."), "exp_avg_sq");
    assert.ok(!back.state.adam.expAvg.has("pos_embed"));
    assert.equal(back.state.step, 2);
    assert.equal(back.state.adam.step, 2);
    assert.deepEqual(back.adam, { lr: 1e-3, betas: [0.9, 0.95], eps: 1e-6, weightDecay: 0 });
    assert.deepEqual(back.args, {
      data_path: "/data/imagenet/train",
      results_dir: "results",
      model: "DiT-S/2",
      image_size: 64,
      num_classes: 10,
      epochs: 1400,
      global_batch_size: 256,
      global_seed: 0,
      vae: "ema",
      num_workers: 4,
      log_every: 100,
      ckpt_every: 50000,
    });
  });
});
