/**
 * VAE weights: diffusers `AutoencoderKL` safetensors (current and pre-0.17
 * attention names), the expected key set of a config, and the nesting into
 * the parameter objects the jax-js code takes.
 */
import type { JsTree } from "@jax-js/jax";
import { subtree, type StateDict } from "../io/state-dict.js";
import { loadStateDict } from "../io/state-dict.js";
import type { Tensor } from "../runtime/tensor.js";
import type { VaeConfig } from "./config.js";
import { VaeLoadError } from "./errors.js";

/** diffusers ≤ 0.16 attention names → current names (ModelMixin._convert_deprecated_attention_blocks). */
const LEGACY_ATTENTION: Record<string, string> = { query: "to_q", key: "to_k", value: "to_v", proj_attn: "to_out.0" };

/** Rename old-style attention keys (`…attentions.0.query.weight` → `…attentions.0.to_q.weight`); other keys pass through. */
export function normalizeVaeKeys(weights: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of weights) {
    const m = /^(.*\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$/.exec(k);
    const name = m ? `${m[1]}${LEGACY_ATTENTION[m[2]!]}.${m[3]}` : k;
    if (out.has(name)) throw new VaeLoadError(`VAE weights: '${k}' and another key both map to '${name}'`);
    out.set(name, v);
  }
  return out;
}

/**
 * One CompVis / original Stable Diffusion (`ldm`) VAE key → its diffusers name,
 * given the number of resolution levels (decoder levels are numbered the other
 * way round: ldm `decoder.up.{i}` is diffusers `decoder.up_blocks.{L-1-i}`).
 * Returns undefined for keys that are not VAE parameters.
 */
export function compvisKeyToDiffusers(key: string, levels: number): string | undefined {
  const k = key.replace(/^first_stage_model\./, "");
  const tail = (rest: string) => rest.replace(/^nin_shortcut\./, "conv_shortcut.");
  const attn: Record<string, string> = { norm: "group_norm", q: "to_q", k: "to_k", v: "to_v", proj_out: "to_out.0" };
  let m: RegExpExecArray | null;
  if (/^(encoder|decoder)\.(conv_in|conv_out)\.(weight|bias)$/.test(k)) return k;
  if ((m = /^(encoder|decoder)\.norm_out\.(weight|bias)$/.exec(k))) return `${m[1]}.conv_norm_out.${m[2]}`;
  if (/^(quant_conv|post_quant_conv)\.(weight|bias)$/.test(k)) return k;
  if ((m = /^(encoder|decoder)\.mid\.block_([12])\.(.+)$/.exec(k))) return `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${tail(m[3]!)}`;
  if ((m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/.exec(k))) return `${m[1]}.mid_block.attentions.0.${attn[m[2]!]}.${m[3]}`;
  if ((m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(k))) return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${tail(m[3]!)}`;
  if ((m = /^encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)$/.exec(k))) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  if ((m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(k))) return `decoder.up_blocks.${levels - 1 - Number(m[1])}.resnets.${m[2]}.${tail(m[3]!)}`;
  if ((m = /^decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)$/.exec(k))) return `decoder.up_blocks.${levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  return undefined;
}

/** Whether a state dict uses the CompVis / original SD names. */
export function isCompvisLayout(weights: StateDict): boolean {
  return [...weights.keys()].some((k) => /^(first_stage_model\.)?encoder\.down\.\d+\./.test(k));
}

/**
 * Convert a CompVis-layout VAE state dict (a VAE `.ckpt`, or the
 * `first_stage_model.` part of a full SD checkpoint) to diffusers names;
 * attention projections stored as 1×1 conv weights [C, C, 1, 1] become
 * linear weights [C, C]. Other keys (the training loss's discriminator, the
 * rest of an SD checkpoint) are dropped.
 */
export function compvisToDiffusers(weights: StateDict): StateDict {
  const levels = 1 + Math.max(-1, ...[...weights.keys()].map((k) => Number(/encoder\.down\.(\d+)\./.exec(k)?.[1] ?? -1)));
  const out: StateDict = new Map();
  for (const [k, v] of weights) {
    const name = compvisKeyToDiffusers(k, levels);
    if (!name) continue;
    const isAttnProj = /\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(name);
    const t = isAttnProj && v.shape.length === 4 ? new (v.constructor as typeof Tensor)(v.data, v.shape.slice(0, 2)) : v;
    if (out.has(name)) throw new VaeLoadError(`VAE weights: '${k}' and another key both map to '${name}'`);
    out.set(name, t);
  }
  return out;
}

/**
 * Read VAE weights: a diffusers safetensors file (either attention naming) or
 * a CompVis / original Stable Diffusion checkpoint (`.ckpt`/`.pt`/`.safetensors`
 * with ldm names, read without executing code).
 */
export function loadVaeStateDict(path: string): StateDict {
  const w = loadStateDict(path, undefined, { skipNonFloat: true });
  return isCompvisLayout(w) ? compvisToDiffusers(w) : normalizeVaeKeys(w);
}

/** Names and shapes of every parameter of a config (current diffusers names, state-dict order). */
export function vaeParamShapes(c: VaeConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const conv = (name: string, o: number, i: number, k: number) => {
    m.set(`${name}.weight`, [o, i, k, k]);
    m.set(`${name}.bias`, [o]);
  };
  const norm = (name: string, ch: number) => {
    m.set(`${name}.weight`, [ch]);
    m.set(`${name}.bias`, [ch]);
  };
  const resnet = (name: string, i: number, o: number) => {
    norm(`${name}.norm1`, i);
    conv(`${name}.conv1`, o, i, 3);
    norm(`${name}.norm2`, o);
    conv(`${name}.conv2`, o, o, 3);
    if (i !== o) conv(`${name}.conv_shortcut`, o, i, 1);
  };
  const mid = (name: string, ch: number) => {
    const a = `${name}.attentions.0`;
    norm(`${a}.group_norm`, ch);
    for (const l of ["to_q", "to_k", "to_v", "to_out.0"]) {
      m.set(`${a}.${l}.weight`, [ch, ch]);
      m.set(`${a}.${l}.bias`, [ch]);
    }
    resnet(`${name}.resnets.0`, ch, ch);
    resnet(`${name}.resnets.1`, ch, ch);
  };
  const ch = c.blockOutChannels;
  const L = ch.length;
  const top = ch[L - 1]!;
  // encoder
  conv("encoder.conv_in", ch[0]!, c.inChannels, 3);
  let prev = ch[0]!;
  ch.forEach((o, i) => {
    for (let j = 0; j < c.layersPerBlock; j++) resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : o, o);
    if (i < L - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, o, o, 3);
    prev = o;
  });
  mid("encoder.mid_block", top);
  norm("encoder.conv_norm_out", top);
  conv("encoder.conv_out", 2 * c.latentChannels, top, 3);
  // decoder
  conv("decoder.conv_in", top, c.latentChannels, 3);
  const rev = [...ch].reverse();
  rev.forEach((o, i) => {
    const inCh = i === 0 ? top : rev[i - 1]!;
    for (let j = 0; j <= c.layersPerBlock; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? inCh : o, o);
    if (i < L - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, o, o, 3);
  });
  mid("decoder.mid_block", top);
  norm("decoder.conv_norm_out", ch[0]!);
  conv("decoder.conv_out", c.outChannels, ch[0]!, 3);
  conv("quant_conv", 2 * c.latentChannels, 2 * c.latentChannels, 1);
  conv("post_quant_conv", c.latentChannels, c.latentChannels, 1);
  return m;
}

/** Throws unless the state dict holds exactly the config's parameters with their shapes. */
export function checkVaeStateDict(c: VaeConfig, weights: StateDict): void {
  const want = vaeParamShapes(c);
  const missing = [...want.keys()].filter((k) => !weights.has(k));
  const extra = [...weights.keys()].filter((k) => !want.has(k));
  if (missing.length || extra.length) {
    throw new VaeLoadError(`VAE weights do not match the config: missing [${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}], unexpected [${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}]`);
  }
  for (const [k, shape] of want) {
    const got = weights.get(k)!.shape;
    if (got.join() !== shape.join()) throw new VaeLoadError(`VAE weights: '${k}' has shape [${got}], the config needs [${shape}]`);
  }
}

/** The nested parameter object under a key prefix (e.g. "encoder."). */
export function vaeParams(weights: StateDict, prefix: string): JsTree<Tensor> {
  return subtree(weights, prefix);
}
