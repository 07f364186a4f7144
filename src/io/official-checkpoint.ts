/**
 * The official `train.py` checkpoint, both ways: what it saves every
 * `--ckpt-every` steps,
 *
 *     {"model": model.module.state_dict(), "ema": ema.state_dict(),
 *      "opt": opt.state_dict(), "args": args}
 *
 * with `opt` a `torch.optim.AdamW` state dict (PyTorch 1.13 layout):
 *
 *     {"state": {i: {"step": tensor(float32 scalar), "exp_avg": …, "exp_avg_sq": …}},
 *      "param_groups": [{"lr", "betas", "eps", "weight_decay", "amsgrad", "foreach",
 *                        "maximize", "capturable", "params": [0, …, P-1]}]}
 *
 * Index `i` is the position in `model.parameters()`, which for the official DiT
 * is the `state_dict()` order: the model's own `pos_embed` first (it does not
 * require grad, so it never has optimizer state), then x_embedder, t_embedder,
 * y_embedder, blocks.0 … blocks.N-1 and final_layer.
 *
 * Written with this project's pickle writer (`args` as a plain dict, so
 * `torch.load(path, weights_only=True)` accepts the file); read with the
 * restricted reader (a real train.py file's `argparse.Namespace` args come
 * back as a plain object).
 */
import { DitError } from "../errors.js";
import { readSafetensors, floatTensorToF32, type StTensor } from "./safetensors.js";
import { pyFloat, tuple, type PyValue } from "./pickle-writer.js";
import type { StateDict } from "./state-dict.js";
import { loadTorchCheckpoint, type TorchLoadOptions } from "./torch-checkpoint.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor, type TorchSaveOptions, type TorchValue } from "./torch-save.js";
import { Tensor } from "../runtime/tensor.js";
import type { AdamWOptions, TrainState } from "../train/state.js";

/** Thrown for a checkpoint that is not (or cannot be turned into) a train.py checkpoint; names the file. */
export class OfficialCheckpointError extends DitError {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "OfficialCheckpointError";
  }
}

// ---------------------------------------------------------------------------
// Parameter order

/** Top-level parameters in `DiT.parameters()` order; "blocks" stands for every block. */
const TOP_ORDER = [
  "pos_embed",
  "x_embedder.proj.weight",
  "x_embedder.proj.bias",
  "t_embedder.mlp.0.weight",
  "t_embedder.mlp.0.bias",
  "t_embedder.mlp.2.weight",
  "t_embedder.mlp.2.bias",
  "y_embedder.embedding_table.weight",
  "blocks",
  "final_layer.linear.weight",
  "final_layer.linear.bias",
  "final_layer.adaLN_modulation.1.weight",
  "final_layer.adaLN_modulation.1.bias",
];

/** A block's parameters in order (official adaLN-Zero; then the ablation blocks' extras, as src/model/blocks.ts names them). */
const lin = (m: string) => [`${m}.weight`, `${m}.bias`];
const BLOCK_ORDER = ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2", "adaLN_modulation.1", "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.proj"].flatMap(lin);

/**
 * Parameter names in the official `model.parameters()` (= `state_dict()`)
 * order. Names this table does not know keep their relative order, after the
 * known ones of their block (or at the end).
 */
export function officialParameterOrder(names: Iterable<string>): string[] {
  const top = new Map(TOP_ORDER.map((n, i) => [n, i]));
  const sub = new Map(BLOCK_ORDER.map((n, i) => [n, i]));
  const key = (name: string): [number, number, number] => {
    const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
    if (m) return [top.get("blocks")!, Number(m[1]), sub.get(m[2]!) ?? BLOCK_ORDER.length];
    return [top.get(name) ?? TOP_ORDER.length, 0, 0];
  };
  const list = [...names].map((n, i) => ({ n, i, k: key(n) }));
  list.sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2] || a.i - b.i);
  return list.map((x) => x.n);
}

/** Parameters without optimizer state: they do not require grad in the official model. */
const FROZEN = new Set(["pos_embed"]);

// ---------------------------------------------------------------------------
// Writing

/** torch 1.13's `AdamW.state_dict()` param-group keys besides `params`, in its order. */
function paramGroup(o: AdamWOptions, params: number[]): Record<string, PyValue> {
  return {
    lr: pyFloat(o.lr),
    betas: tuple(pyFloat(o.betas[0]), pyFloat(o.betas[1])),
    eps: pyFloat(o.eps),
    weight_decay: o.weightDecay, // train.py passes the int 0
    amsgrad: false,
    foreach: null,
    maximize: false,
    capturable: false,
    params,
  };
}

/** JSON-like values → pickle values (undefined entries dropped, as JSON does). */
function toPy(v: unknown, path: string): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
  if (typeof v === "number") return v;
  if (Array.isArray(v)) return v.map((x, i) => toPy(x, `${path}[${i}]`));
  if (typeof v === "object" && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const out: Record<string, PyValue> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) Object.defineProperty(out, k, { value: toPy(x, `${path}.${k}`), enumerable: true, writable: true, configurable: true });
    return out;
  }
  throw new TypeError(`args${path}: cannot store a ${typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v} (expected JSON-like values)`);
}

function f32(t: Tensor, what: string, path: string): TorchTensor {
  if (!(t.data instanceof Float32Array)) throw new OfficialCheckpointError(path, `${what} is ${t.dtype}, expected float32`);
  return new TorchTensor("float32", t.shape, t.data);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Write a training state as the official train.py checkpoint (see the file
 * comment): `model` and `ema` as OrderedDicts, the Adam moments as PyTorch
 * 1.13 AdamW state with `step` = `state.adam.step` (no state at step 0, as
 * torch has none before its first step), and `args` as a plain dict.
 * Written atomically.
 */
export function writeOfficialCheckpoint(path: string, state: TrainState, args: Record<string, unknown>, opts: AdamWOptions, saveOpts: TorchSaveOptions = {}): void {
  const bad = (msg: string): never => {
    throw new OfficialCheckpointError(path, msg);
  };
  const names = officialParameterOrder(state.model.keys());
  if (names.length === 0) bad("the model has no parameters");
  const model = new Map<string, TorchValue>();
  const ema = new Map<string, TorchValue>();
  for (const n of names) {
    const p = state.model.get(n)!;
    const e = state.ema.get(n) ?? bad(`the EMA has no '${n}'`);
    if (!sameShape(p.shape, e.shape)) bad(`ema '${n}' has shape [${e.shape}], the model [${p.shape}]`);
    model.set(n, f32(p, `model '${n}'`, path));
    ema.set(n, f32(e, `ema '${n}'`, path));
  }
  for (const n of state.ema.keys()) if (!state.model.has(n)) bad(`the EMA has '${n}', which the model does not`);
  const { expAvg, expAvgSq, step } = state.adam;
  if (!(Number.isInteger(step) && step >= 0)) bad(`Adam step ${step} is not a non-negative integer`);
  for (const [what, d] of [["exp_avg", expAvg], ["exp_avg_sq", expAvgSq]] as const) {
    for (const [n, t] of d) {
      const p = state.model.get(n) ?? bad(`Adam ${what} has '${n}', which the model does not`);
      if (!sameShape(p.shape, t.shape)) bad(`Adam ${what} '${n}' has shape [${t.shape}], the parameter [${p.shape}]`);
    }
  }
  const optState = new Map<number, TorchValue>();
  if (step > 0) {
    names.forEach((n, i) => {
      if (FROZEN.has(n)) return;
      const m = expAvg.get(n) ?? bad(`no Adam exp_avg for '${n}' (step ${step})`);
      const v = expAvgSq.get(n) ?? bad(`no Adam exp_avg_sq for '${n}' (step ${step})`);
      optState.set(i, { step: TorchTensor.scalar(step), exp_avg: f32(m, `exp_avg '${n}'`, path), exp_avg_sq: f32(v, `exp_avg_sq '${n}'`, path) });
    });
  }
  let pyArgs: PyValue;
  try {
    pyArgs = toPy(args, "");
  } catch (e) {
    return bad((e as Error).message);
  }
  const opt = new Map<string, TorchValue>([
    ["state", optState],
    ["param_groups", [paramGroup(opts, names.map((_, i) => i))]],
  ]);
  const ckpt = new Map<string, TorchValue>([
    ["model", new TorchOrderedDict(model)],
    ["ema", new TorchOrderedDict(ema)],
    ["opt", opt],
    ["args", pyArgs as TorchValue],
  ]);
  saveTorchCheckpoint(path, ckpt, saveOpts);
}

// ---------------------------------------------------------------------------
// Reading

/** What readOfficialCheckpoint returns. */
export interface OfficialCheckpoint {
  /** model, EMA, Adam moments and step (`step` = the Adam step: train.py takes one optimizer step per training step). */
  state: TrainState;
  /** train.py's `args` (an argparse.Namespace or a dict) as a plain object; {} when absent. */
  args: Record<string, unknown>;
  /** The optimizer's settings (its first param group). */
  adam: AdamWOptions;
}

function isStTensor(v: unknown): v is StTensor {
  return typeof v === "object" && v !== null && typeof (v as StTensor).dtype === "string" && Array.isArray((v as StTensor).shape) && ArrayBuffer.isView((v as StTensor).data);
}

/** Deeper than any real `args` (argparse values are flat); a pickle can nest 1e5 deep, or loop. */
const MAX_ARGS_DEPTH = 64;

/** Maps with string keys → plain objects, recursively (for `args`); throws a RangeError past MAX_ARGS_DEPTH levels. */
function plain(v: unknown, depth = 0): unknown {
  if (depth > MAX_ARGS_DEPTH) throw new RangeError("too deep");
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(o, String(k), { value: plain(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v) && !isStTensor(v) && !(v instanceof Set)) {
    for (const k of Object.keys(v)) Object.defineProperty(v, k, { value: plain((v as Record<string, unknown>)[k], depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return v;
}

function num(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (isStTensor(v) && v.data.length === 1) return Number(v.data[0]);
  return undefined;
}

/**
 * Read a train.py checkpoint (official, or written by writeOfficialCheckpoint)
 * without executing code: model, EMA, AdamW moments and step, args and the
 * optimizer settings. Optimizer index `i` is the `i`-th entry of `model`
 * (state_dict order = parameters order for the official DiT); every moment's
 * shape is checked against its parameter.
 */
export function readOfficialCheckpoint(path: string, opts: TorchLoadOptions = {}): OfficialCheckpoint {
  const bad = (msg: string): never => {
    throw new OfficialCheckpointError(path, msg);
  };
  const root = loadTorchCheckpoint(path, opts);
  if (!(root instanceof Map)) bad("not a train.py checkpoint (the file holds no dict)");
  const ck = root as Map<unknown, unknown>;
  const entries = [...ck.keys()].map(String).join(", ");
  const stateDict = (key: string): StateDict => {
    const d = ck.get(key);
    if (!(d instanceof Map)) return bad(`not a train.py checkpoint: no '${key}' state dict (entries: ${entries || "none"})`);
    const keys = [...d.keys()];
    const strip = keys.length > 0 && keys.every((k) => typeof k === "string" && k.startsWith("module."));
    const out: StateDict = new Map();
    for (const [k, v] of d as Map<unknown, unknown>) {
      if (typeof k !== "string") bad(`'${key}' has a non-string key ${String(k)}`);
      if (!isStTensor(v)) return bad(`'${key}'['${String(k)}'] is not a tensor`);
      if (!["F32", "F64", "F16", "BF16"].includes(v.dtype)) bad(`'${key}'['${String(k)}'] is ${v.dtype}; weights must be floating point`);
      out.set(strip ? (k as string).slice("module.".length) : (k as string), new Tensor(floatTensorToF32(v), [...v.shape]));
    }
    return out;
  };
  const model = stateDict("model");
  const ema = stateDict("ema");
  for (const n of model.keys()) if (!ema.has(n)) bad(`'ema' lacks '${n}'`);
  const names = [...model.keys()];

  const opt = ck.get("opt");
  if (!(opt instanceof Map)) return bad(`no 'opt' optimizer state dict (entries: ${entries})`);
  const groups = opt.get("param_groups");
  const optState = opt.get("state");
  if (!Array.isArray(groups) || groups.length === 0 || !groups.every((g) => g instanceof Map)) bad("'opt' has no param_groups list (not a torch.optim state dict)");
  if (!(optState instanceof Map)) return bad("'opt' has no 'state' dict (not a torch.optim state dict)");
  const g0 = (groups as Map<string, unknown>[])[0]!;
  const hyper = (g: Map<string, unknown>): AdamWOptions => {
    const betas = g.get("betas");
    const o = { lr: num(g.get("lr")), betas: Array.isArray(betas) ? betas.map(num) : [], eps: num(g.get("eps")), weightDecay: num(g.get("weight_decay")) };
    if (o.lr === undefined || o.eps === undefined || o.weightDecay === undefined || o.betas.length !== 2 || o.betas.some((b) => b === undefined)) {
      bad("'opt' param group lacks lr/betas/eps/weight_decay (not an Adam/AdamW state dict)");
    }
    return { lr: o.lr!, betas: [o.betas[0]!, o.betas[1]!], eps: o.eps!, weightDecay: o.weightDecay! };
  };
  const adam = hyper(g0);
  for (const g of groups as Map<string, unknown>[]) {
    if (JSON.stringify(hyper(g)) !== JSON.stringify(adam)) bad("'opt' has param groups with different settings (one set of AdamW settings expected)");
  }
  const indices = (groups as Map<string, unknown>[]).flatMap((g) => {
    const p = g.get("params");
    if (!Array.isArray(p)) return bad("'opt' param group has no params list");
    return p.map((i) => num(i) ?? bad("'opt' param index is not an integer"));
  });
  if (indices.length !== names.length) {
    bad(`the optimizer holds ${indices.length} parameters but 'model' has ${names.length} (not this model's optimizer)`);
  }

  const expAvg: StateDict = new Map();
  const expAvgSq: StateDict = new Map();
  let step: number | undefined;
  indices.forEach((idx, pos) => {
    const n = names[pos]!;
    const s = optState.get(idx);
    if (s === undefined) return;
    if (!(s instanceof Map)) bad(`'opt' state ${idx} is not a dict`);
    const m = (s as Map<string, unknown>).get("exp_avg");
    const v = (s as Map<string, unknown>).get("exp_avg_sq");
    const st = num((s as Map<string, unknown>).get("step"));
    if (!isStTensor(m) || !isStTensor(v) || st === undefined) bad(`'opt' state ${idx} ('${n}') lacks step/exp_avg/exp_avg_sq (not Adam state)`);
    if (step !== undefined && st !== step) bad(`'opt' state ${idx} ('${n}') is at step ${st}, others at ${step}`);
    step = st;
    const p = model.get(n)!;
    for (const [what, t, out] of [["exp_avg", m as StTensor, expAvg], ["exp_avg_sq", v as StTensor, expAvgSq]] as const) {
      if (!sameShape(t.shape, p.shape)) bad(`'opt' state ${idx} ${what} has shape [${t.shape}] but parameter ${pos} '${n}' has [${p.shape}] (optimizer/model order mismatch)`);
      out.set(n, new Tensor(floatTensorToF32(t), [...t.shape]));
    }
  });
  step ??= 0;
  if (!Number.isInteger(step) || step < 0) bad(`Adam step ${step} is not a non-negative integer`);
  if (step > 0) {
    for (const n of names) if (!FROZEN.has(n) && !expAvg.has(n)) bad(`parameter '${n}' has no optimizer state at step ${step}`);
  }
  let rawArgs: unknown;
  try {
    rawArgs = plain(ck.get("args") ?? {});
  } catch {
    return bad(`'args' is nested more than ${MAX_ARGS_DEPTH} levels deep (or refers to itself); not train.py's argparse arguments`);
  }
  const args = typeof rawArgs === "object" && rawArgs !== null && !Array.isArray(rawArgs) ? (rawArgs as Record<string, unknown>) : bad("'args' is neither a Namespace nor a dict");
  return { state: { step, model, ema, adam: { step, expAvg, expAvgSq } }, args, adam };
}

// ---------------------------------------------------------------------------
// From a dit-ts training checkpoint

const PREFIXES = { model: "model.", ema: "ema.", expAvg: "adam.exp_avg.", expAvgSq: "adam.exp_avg_sq." } as const;

/** What trainCheckpointToOfficial wrote. */
export interface OfficialConversion {
  input: string;
  output: string;
  step: number;
  /** Number of parameter tensors (pos_embed included). */
  tensors: number;
  /** Total parameter elements. */
  params: number;
}

/**
 * `dit convert DIR/checkpoints/N.safetensors --out N.pt --format official`:
 * a dit-ts training checkpoint (tensors `model.*`, `ema.*`, `adam.exp_avg.*`,
 * `adam.exp_avg_sq.*`; metadata `dit_ts_checkpoint`, `train`, `config`) →
 * the train.py layout. `args` is the run's options plus `dit_kwargs` (the
 * official `DiT(**kwargs)` arguments) and `train_steps`.
 */
export function trainCheckpointToOfficial(srcPath: string, outPath: string, saveOpts: TorchSaveOptions = {}): OfficialConversion {
  const bad = (msg: string): never => {
    throw new OfficialCheckpointError(srcPath, msg);
  };
  const { tensors, metadata } = readSafetensors(srcPath);
  if (metadata.dit_ts_checkpoint === undefined || metadata.train === undefined) {
    bad("not a dit-ts training checkpoint (its __metadata__ has no 'dit_ts_checkpoint'/'train' entries); `--format official` converts checkpoints written by `dit train`");
  }
  let train: { step?: unknown; adam_step?: unknown; adam?: Record<string, unknown>; args?: unknown };
  let config: unknown;
  try {
    train = JSON.parse(metadata.train!) as typeof train;
    config = metadata.config === undefined ? undefined : (JSON.parse(metadata.config) as unknown);
  } catch (e) {
    return bad(`unreadable 'train'/'config' metadata (${(e as Error).message})`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(train)) return bad(`the 'train' metadata is ${JSON.stringify(metadata.train!.slice(0, 40))}, expected a JSON object`);
  const a = train.adam ?? bad("the 'train' metadata has no 'adam' settings");
  if (!isObject(a)) bad("train.adam is not an object");
  const betas = a.betas;
  const opts: AdamWOptions = {
    lr: Number(a.lr),
    betas: Array.isArray(betas) && betas.length === 2 ? [Number(betas[0]), Number(betas[1])] : bad("train.adam.betas is not a pair"),
    eps: Number(a.eps),
    weightDecay: Number(a.weight_decay ?? a.weightDecay),
  };
  for (const [k, v] of Object.entries({ lr: opts.lr, eps: opts.eps, weight_decay: opts.weightDecay, ...{ beta1: opts.betas[0], beta2: opts.betas[1] } })) {
    if (!Number.isFinite(v)) bad(`train.adam.${k} is not a number`);
  }
  const step = Number(train.step);
  const adamStep = Number(train.adam_step ?? train.step);
  if (!Number.isInteger(step) || step < 0 || !Number.isInteger(adamStep) || adamStep < 0) bad("train.step / train.adam_step are not non-negative integers");

  const groups = { model: new Map(), ema: new Map(), expAvg: new Map(), expAvgSq: new Map() } as Record<keyof typeof PREFIXES, StateDict>;
  const order = (Object.keys(PREFIXES) as (keyof typeof PREFIXES)[]).sort((x, y) => PREFIXES[y].length - PREFIXES[x].length);
  for (const [name, t] of tensors) {
    const g = order.find((k) => name.startsWith(PREFIXES[k])) ?? bad(`unexpected tensor '${name}' (expected model.*, ema.*, adam.exp_avg.*, adam.exp_avg_sq.*)`);
    if (t.dtype !== "F32") bad(`tensor '${name}' is ${t.dtype}, expected F32`);
    groups[g].set(name.slice(PREFIXES[g].length), new Tensor(t.data as Float32Array, t.shape));
  }
  if (groups.model.size === 0) bad("no model.* tensors");
  const args: Record<string, unknown> = {};
  const runArgs = train.args;
  if (runArgs !== undefined && runArgs !== null) {
    if (typeof runArgs !== "object" || Array.isArray(runArgs)) bad("train.args is not an object");
    for (const [k, v] of Object.entries(runArgs)) Object.defineProperty(args, k, { value: v, enumerable: true, writable: true, configurable: true }); // a '__proto__' key stays a key
  }
  if (config !== undefined) args.dit_kwargs = config;
  args.train_steps = step;
  const state: TrainState = { step, model: groups.model, ema: groups.ema, adam: { step: adamStep, expAvg: groups.expAvg, expAvgSq: groups.expAvgSq } };
  writeOfficialCheckpoint(outPath, state, args, opts, saveOpts);
  let params = 0;
  for (const t of groups.model.values()) params += t.data.length;
  return { input: srcPath, output: outPath, step, tensors: groups.model.size, params };
}
