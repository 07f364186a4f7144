/**
 * VAE weights: diffusers `AutoencoderKL` safetensors (current and pre-0.17
 * attention names), the expected key set of a config, and the nesting into
 * the parameter objects the jax-js code takes.
 */
import type { JsTree } from "@jax-js/jax";
import { subtree, type StateDict } from "../model/dit.js";
import { loadStateDict } from "../model/weights.js";
import type { Tensor } from "../runtime/tensor.js";
import type { VaeConfig } from "./config.js";

/** diffusers ≤ 0.16 attention names → current names (ModelMixin._convert_deprecated_attention_blocks). */
const LEGACY_ATTENTION: Record<string, string> = { query: "to_q", key: "to_k", value: "to_v", proj_attn: "to_out.0" };

/** Rename old-style attention keys (`…attentions.0.query.weight` → `…attentions.0.to_q.weight`); other keys pass through. */
export function normalizeVaeKeys(weights: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of weights) {
    const m = /^(.*\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$/.exec(k);
    const name = m ? `${m[1]}${LEGACY_ATTENTION[m[2]!]}.${m[3]}` : k;
    if (out.has(name)) throw new Error(`VAE weights: '${k}' and another key both map to '${name}'`);
    out.set(name, v);
  }
  return out;
}

/** Read a diffusers AutoencoderKL safetensors file (either attention naming). */
export function loadVaeStateDict(path: string): StateDict {
  return normalizeVaeKeys(loadStateDict(path));
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
    throw new Error(`VAE weights do not match the config: missing [${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}], unexpected [${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}]`);
  }
  for (const [k, shape] of want) {
    const got = weights.get(k)!.shape;
    if (got.join() !== shape.join()) throw new Error(`VAE weights: '${k}' has shape [${got}], the config needs [${shape}]`);
  }
}

/** The nested parameter object under a key prefix (e.g. "encoder."). */
export function vaeParams(weights: StateDict, prefix: string): JsTree<Tensor> {
  return subtree(weights, prefix);
}
