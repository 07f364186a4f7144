/**
 * diffusers-format DiT weights (`DiTTransformer2DModel` / `Transformer2DModel`
 * with norm_type "ada_norm_zero", as in the `facebook/DiT-XL-2-256` pipeline's
 * `transformer/`) ↔ the official DiT state-dict names this project uses.
 *
 * The mapping is diffusers' `scripts/convert_dit_to_diffusers.py`, inverted:
 *
 *   official                          diffusers
 *   x_embedder.proj                   pos_embed.proj
 *   t_embedder.mlp.0 / .2             transformer_blocks.N.norm1.emb.timestep_embedder.linear_1 / linear_2
 *   y_embedder.embedding_table        transformer_blocks.N.norm1.emb.class_embedder.embedding_table
 *   blocks.N.adaLN_modulation.1       transformer_blocks.N.norm1.linear
 *   blocks.N.attn.qkv (fused q;k;v)   transformer_blocks.N.attn1.to_q / to_k / to_v
 *   blocks.N.attn.proj                transformer_blocks.N.attn1.to_out.0
 *   blocks.N.mlp.fc1 / fc2            transformer_blocks.N.ff.net.0.proj / ff.net.2
 *   final_layer.adaLN_modulation.1    proj_out_1
 *   final_layer.linear                proj_out_2
 *   pos_embed (fixed sin-cos)         not stored (a non-persistent buffer): the caller supplies it
 *
 * Important: diffusers gives every block its own copy of the timestep and
 * class embedders (`norm1.emb`), where the official model has one shared
 * embedder; the conversion copies it into every block and diffusers' forward
 * uses block 0's for the final layer. Mapping back takes block 0's copy and
 * refuses weights whose copies differ (they cannot be expressed as one DiT).
 */
import { DitError } from "../errors.js";
import { Tensor } from "../runtime/tensor.js";
import type { DiTKwargs } from "../model/config.js";
import type { StateDict } from "./state-dict.js";

export class DiffusersDiTError extends DitError {
  constructor(message: string) {
    super(message);
    this.name = "DiffusersDiTError";
  }
}

const EMB = "norm1.emb";
const SHARED: [official: string, diffusersInBlock: string][] = [
  ["t_embedder.mlp.0", `${EMB}.timestep_embedder.linear_1`],
  ["t_embedder.mlp.2", `${EMB}.timestep_embedder.linear_2`],
];
const PER_BLOCK: [official: string, diffusers: string][] = [
  ["adaLN_modulation.1", "norm1.linear"],
  ["attn.proj", "attn1.to_out.0"],
  ["mlp.fc1", "ff.net.0.proj"],
  ["mlp.fc2", "ff.net.2"],
];
const TOP: [official: string, diffusers: string][] = [
  ["x_embedder.proj", "pos_embed.proj"],
  ["final_layer.adaLN_modulation.1", "proj_out_1"],
  ["final_layer.linear", "proj_out_2"],
];
const LABEL_TABLE = `${EMB}.class_embedder.embedding_table.weight`;

/** Whether a state dict uses diffusers' DiT names. */
export function isDiffusersDiT(weights: { has(k: string): boolean }): boolean {
  return weights.has(`transformer_blocks.0.${EMB}.timestep_embedder.linear_1.weight`) || weights.has("proj_out_2.weight");
}

/** Number of transformer blocks in a diffusers DiT state dict. */
export function diffusersDepth(weights: StateDict): number {
  let depth = 0;
  for (const k of weights.keys()) {
    const m = /^transformer_blocks\.(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  return depth;
}

function take(w: StateDict, key: string, used: Set<string>): Tensor {
  const t = w.get(key);
  if (!t) throw new DiffusersDiTError(`diffusers DiT weights: missing '${key}'`);
  used.add(key);
  return t;
}

function sameValues(a: Tensor, b: Tensor): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * diffusers names → official names. diffusers does not store the fixed
 * sin-cos `pos_embed` (a non-persistent buffer): it is taken from
 * `pos_embed.pos_embed` when present, else from `opts.posEmbed` (the model's
 * (1, T, D) table, e.g. from `sincosPosEmbed`), else left out. Throws on
 * missing or unexpected keys and on per-block embedder copies that differ.
 */
export function diffusersToOfficial(w: StateDict, opts: { posEmbed?: Tensor } = {}): StateDict {
  const depth = diffusersDepth(w);
  if (depth === 0) throw new DiffusersDiTError("diffusers DiT weights: no transformer_blocks.N.* keys");
  const used = new Set<string>();
  const out: StateDict = new Map();
  for (const [o, d] of TOP) for (const s of ["weight", "bias"]) out.set(`${o}.${s}`, take(w, `${d}.${s}`, used));
  // shared embedders: block 0's copy, every other copy must equal it
  const shared: [string, string][] = SHARED.flatMap(([o, d]) => ["weight", "bias"].map((s) => [`${o}.${s}`, `${d}.${s}`] as [string, string]));
  const hasLabels = w.has(`transformer_blocks.0.${LABEL_TABLE}`);
  if (hasLabels) shared.push(["y_embedder.embedding_table.weight", LABEL_TABLE]);
  for (const [o, d] of shared) {
    const first = take(w, `transformer_blocks.0.${d}`, used);
    for (let i = 1; i < depth; i++) {
      const other = take(w, `transformer_blocks.${i}.${d}`, used);
      if (!sameValues(first, other)) {
        throw new DiffusersDiTError(`diffusers DiT weights: transformer_blocks.${i}.${d} differs from block 0's copy; the official DiT has one shared embedder, so these weights cannot be mapped onto it`);
      }
    }
    out.set(o, first);
  }
  for (let i = 0; i < depth; i++) {
    const b = `transformer_blocks.${i}`;
    for (const s of ["weight", "bias"]) {
      const q = take(w, `${b}.attn1.to_q.${s}`, used);
      const k = take(w, `${b}.attn1.to_k.${s}`, used);
      const v = take(w, `${b}.attn1.to_v.${s}`, used);
      out.set(`blocks.${i}.attn.qkv.${s}`, concatRows([q, k, v]));
      for (const [o, d] of PER_BLOCK) out.set(`blocks.${i}.${o}.${s}`, take(w, `${b}.${d}.${s}`, used));
    }
  }
  const stored = w.get("pos_embed.pos_embed");
  if (stored) used.add("pos_embed.pos_embed");
  const pos = stored ?? opts.posEmbed;
  if (pos) out.set("pos_embed", pos.shape.length === 3 ? pos : new Tensor(pos.data as Float32Array, [1, ...pos.shape.slice(-2)]));
  const unexpected = [...w.keys()].filter((k) => !used.has(k));
  if (unexpected.length) throw new DiffusersDiTError(`diffusers DiT weights: unexpected keys (${unexpected.length}): ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", …" : ""}`);
  return out;
}

/**
 * Official names → diffusers names (what convert_dit_to_diffusers.py writes;
 * the shared embedders copied into every block, pos_embed dropped). adaLN-Zero
 * models only: diffusers' DiT has no other conditioning block.
 */
export function officialToDiffusers(w: StateDict, depth: number): StateDict {
  const out: StateDict = new Map();
  const get = (k: string) => {
    const t = w.get(k);
    if (!t) throw new DiffusersDiTError(`official DiT weights: missing '${k}' (diffusers' DiT is adaLN-Zero and class-conditional)`);
    return t;
  };
  for (const [o, d] of TOP) for (const s of ["weight", "bias"]) out.set(`${d}.${s}`, get(`${o}.${s}`));
  for (let i = 0; i < depth; i++) {
    const b = `transformer_blocks.${i}`;
    for (const [o, d] of SHARED) for (const s of ["weight", "bias"]) out.set(`${b}.${d}.${s}`, get(`${o}.${s}`));
    if (w.has("y_embedder.embedding_table.weight")) out.set(`${b}.${LABEL_TABLE}`, get("y_embedder.embedding_table.weight"));
    for (const s of ["weight", "bias"]) {
      const [q, k, v] = splitRows(get(`blocks.${i}.attn.qkv.${s}`), 3);
      out.set(`${b}.attn1.to_q.${s}`, q!);
      out.set(`${b}.attn1.to_k.${s}`, k!);
      out.set(`${b}.attn1.to_v.${s}`, v!);
      for (const [o, d] of PER_BLOCK) out.set(`${b}.${d}.${s}`, get(`blocks.${i}.${o}.${s}`));
    }
  }
  return out;
}

/**
 * The official DiT keyword arguments of a diffusers transformer `config.json`
 * (DiTTransformer2DModel, or Transformer2DModel with norm_type
 * "ada_norm_zero"). `labelRows` (the class table's rows: num_classes + 1 with
 * the null class) decides class_dropout_prob > 0.
 */
export function ditKwargsFromDiffusers(json: Record<string, unknown>, labelRows?: number): DiTKwargs {
  const num = (k: string, dflt: number): number => {
    const v = json[k] ?? dflt;
    if (typeof v !== "number" || !Number.isInteger(v)) throw new DiffusersDiTError(`diffusers DiT config: '${k}' must be an integer, got ${JSON.stringify(v)}`);
    return v;
  };
  if (json.norm_type !== undefined && json.norm_type !== "ada_norm_zero") throw new DiffusersDiTError(`diffusers DiT config: norm_type '${String(json.norm_type)}' is not supported (ada_norm_zero only)`);
  const inChannels = num("in_channels", 4);
  const outChannels = num("out_channels", inChannels * 2);
  const numClasses = num("num_embeds_ada_norm", 1000);
  return {
    input_size: num("sample_size", 32),
    patch_size: num("patch_size", 2),
    in_channels: inChannels,
    hidden_size: num("num_attention_heads", 16) * num("attention_head_dim", 72),
    depth: num("num_layers", 28),
    num_heads: num("num_attention_heads", 16),
    num_classes: numClasses,
    learn_sigma: outChannels === 2 * inChannels,
    class_dropout_prob: labelRows === undefined || labelRows > numClasses ? 0.1 : 0,
    block: "adaLN-Zero",
  };
}

function concatRows(ts: Tensor[]): Tensor {
  const rows = ts.reduce((s, t) => s + t.shape[0]!, 0);
  const data = new Float32Array(ts.reduce((s, t) => s + t.data.length, 0));
  let off = 0;
  for (const t of ts) {
    data.set(t.data as Float32Array, off);
    off += t.data.length;
  }
  return new Tensor(data, [rows, ...ts[0]!.shape.slice(1)]);
}

function splitRows(t: Tensor, k: number): Tensor[] {
  const rows = t.shape[0]! / k;
  const per = t.data.length / k;
  return Array.from({ length: k }, (_, i) => new Tensor((t.data as Float32Array).slice(i * per, (i + 1) * per), [rows, ...t.shape.slice(1)]));
}
