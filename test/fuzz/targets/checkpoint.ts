/**
 * Fuzz target: training checkpoints (`loadCheckpoint`), seeds written by `saveCheckpoint`
 * for the tiny config of the training tests. Lies rewrite the metadata (corrupt or
 * ill-typed config/train/class_names/info JSON) or the tensor set, with a fresh data
 * SHA-256 so that the checkpoint's own checks are reached.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from "../../../src/train/checkpoint.js";
import { configFromKwargs } from "../../../src/model/config.js";
import { Tensor } from "../../../src/runtime/tensor.js";
import type { StateDict } from "../../../src/io/state-dict.js";
import type { SafetensorsDType, StArray } from "../../../src/io/safetensors.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";
import { encodeSafetensors, safetensorsBoundaries } from "./safetensors.js";

/** A few parameters of the tiny DiT (official names and shapes), filled deterministically. */
function stateDict(scale: number): StateDict {
  const shapes: [string, number[]][] = [
    ["x_embedder.proj.weight", [16, 2, 2, 2]],
    ["x_embedder.proj.bias", [16]],
    ["y_embedder.embedding_table.weight", [4, 16]],
    ["final_layer.linear.weight", [16, 16]],
    ["final_layer.linear.bias", [16]],
  ];
  const d: StateDict = new Map();
  let k = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    d.set(name, new Tensor(Float32Array.from({ length: n }, () => scale * Math.sin(++k)), shape));
  }
  return d;
}

function checkpoint(full: boolean): Checkpoint {
  const config = configFromKwargs({ input_size: 4, patch_size: 2, in_channels: 2, hidden_size: 16, depth: 2, num_heads: 2, mlp_ratio: 2, num_classes: 3, learn_sigma: true, class_dropout_prob: 0.1 });
  return {
    config,
    state: { step: 7, model: stateDict(1), ema: stateDict(0.9), adam: { step: 7, expAvg: stateDict(0.01), expAvgSq: stateDict(0.001) } },
    train: { step: 7, adam_step: 7, adam: { lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }, seed: 0, data_position: 56, args: { batch: 8 } },
    ...(full ? { classNames: ["a", "b", "c"], vae: "vae", info: { wall_s: 1.5 } } : {}),
  };
}

function save(ck: Checkpoint): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-ckpt-"));
  try {
    const p = join(dir, "0000007.safetensors");
    saveCheckpoint(p, ck);
    return new Uint8Array(readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function seeds(): FuzzSeed[] {
  return [
    { name: "full", bytes: save(checkpoint(true)), boundaries: [] },
    { name: "minimal", bytes: save(checkpoint(false)), boundaries: [] },
  ].map((s) => ({ ...s, boundaries: safetensorsBoundaries(s.bytes) }));
}

type Tensors = Record<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }>;

/** Parse a seed back into tensors and metadata (no project reader: the seed is known to be well-formed). */
function parse(bytes: Uint8Array): { tensors: Tensors; metadata: Record<string, string> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8")) as Record<string, unknown>;
  const data = bytes.slice(8 + n);
  const tensors: Tensors = {};
  let metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__") {
      metadata = { ...(v as Record<string, string>) };
      continue;
    }
    const e = v as { dtype: SafetensorsDType; shape: number[]; data_offsets: [number, number] };
    tensors[k] = { data: new Float32Array(data.buffer.slice(e.data_offsets[0], e.data_offsets[1])), shape: e.shape, dtype: e.dtype };
  }
  return { tensors, metadata };
}

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const { tensors, metadata } = parse(seed.bytes);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const field = pick(["config", "train", "class_names", "info", "dit_ts_checkpoint", "vae"]);
  const names = Object.keys(tensors);
  const lies: (() => string)[] = [
    () => {
      const v = pick(["", "{", "not json", "[1,2", '{"depth":', "nul", "\u0000", "{}}"]);
      metadata[field] = v;
      return `${field} = ${JSON.stringify(v)}`;
    },
    () => {
      const v = pick(["null", "5", '"text"', "[]", "true", "{}", '[{"a":1}]', "1e400"]);
      metadata[field] = v;
      return `${field} = ${v}`;
    },
    () => {
      delete metadata[field];
      return `no ${field}`;
    },
    () => {
      const c = JSON.parse(metadata.config!) as Record<string, unknown>;
      const k = pick(Object.keys(c));
      c[k] = pick([-1, 0, 1e12, 2.5, "x", null, [], {}, true, 1e308]);
      metadata.config = JSON.stringify(c);
      return `config.${k} = ${JSON.stringify(c[k])}`;
    },
    () => {
      const t = JSON.parse(metadata.train!) as Record<string, unknown>;
      const k = pick(Object.keys(t));
      t[k] = pick([-1, 1.5, 1e300, "7", null, [], {}, true, NaN]);
      metadata.train = JSON.stringify(t);
      return `train.${k} = ${JSON.stringify(t[k])}`;
    },
    () => {
      const t = JSON.parse(metadata.train!) as { adam: Record<string, unknown> };
      const k = pick(["lr", "betas", "eps", "weight_decay"]);
      t.adam[k] = pick([-1, "x", null, [1], [0.9, "b"], Infinity]);
      metadata.train = JSON.stringify(t);
      return `train.adam.${k} = ${JSON.stringify(t.adam[k])}`;
    },
    () => {
      const v = pick(['[1,2,3]', '["a"]', '"abc"', '{"0":"a"}', "[null]", '["a","b","c","d","e"]']);
      metadata.class_names = v;
      return `class_names = ${v}`;
    },
    () => {
      const n = pick(names);
      const t = tensors[n]!;
      delete tensors[n];
      const to = pick(["weird.name", "model.", "ema", "adam.exp_avg_sq.extra", "ema.only"]);
      tensors[to] = t;
      return `tensor ${n} renamed ${to}`;
    },
    () => {
      const n = pick(names.filter((x) => x.startsWith("ema.")));
      delete tensors[n];
      return `no ${n}`;
    },
    () => {
      const n = pick(names);
      const t = tensors[n]!;
      tensors[n] = { data: new Uint16Array(t.data.buffer), shape: [...t.shape.slice(0, -1), t.shape[t.shape.length - 1]! * 2], dtype: pick(["F16", "BF16"] as const) };
      return `tensor ${n} as 16-bit`;
    },
    () => {
      for (const n of names) if (n.startsWith("model.")) delete tensors[n];
      return "no model.* tensors";
    },
    () => {
      // the ema tensor with another shape than the model's
      const n = pick(names.filter((x) => x.startsWith("ema.")));
      const t = tensors[n]!;
      tensors[n] = { ...t, shape: [t.data.length] };
      return `${n} flattened`;
    },
  ];
  const what = pick(lies)();
  return { what, bytes: encodeSafetensors(tensors, metadata) };
}

const target: FuzzTarget = {
  format: "checkpoint",
  ext: ".safetensors",
  seeds,
  lie,
  load(path: string) {
    const ck = loadCheckpoint(path);
    let n = 0;
    for (const d of [ck.state.model, ck.state.ema, ck.state.adam.expAvg, ck.state.adam.expAvgSq]) for (const t of d.values()) n += t.data.length;
    return { step: ck.train.step, elements: n, classes: ck.classNames?.length ?? 0 };
  },
};

export default target;
