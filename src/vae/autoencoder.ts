/**
 * diffusers' AutoencoderKL (the SD VAE that DiT uses), run compiled on ONNX
 * Runtime (or eagerly in jax-js, the test reference):
 *
 *   encode: x (N, 3, H, W) in [-1, 1] → encoder → quant_conv → moments (N, 2·lc, h, w)
 *           → a diagonal Gaussian (mean, logvar clamped to [-30, 20])
 *   decode: z (N, lc, h, w) → post_quant_conv → decoder → (N, 3, H, W), raw (no clamp)
 *
 * DiT's scaling factor (0.18215) is not applied here: latents for the DiT are
 * `encode(x).sample(·) · SCALING_FACTOR`, images are `decode(latents / SCALING_FACTOR)`.
 * Weights go to ONNX Runtime as graph inputs; batches run in chunks of
 * `chunkSize` images so that memory stays bounded.
 */
import { nn, type Array } from "@jax-js/jax";
import { compile, type CompiledFunction } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import { Tensor } from "../runtime/tensor.js";
import type { Rng } from "../util/rng.js";
import type { StateDict } from "../io/state-dict.js";
import { validateVaeConfig, type VaeConfig } from "./config.js";
import {
  attention,
  conv1x1,
  conv2d,
  downsample,
  groupNorm,
  resnet,
  upsample,
  type AttentionParams,
  type ConvParams,
  type NormParams,
  type ResnetParams,
} from "./layers.js";
import { checkVaeStateDict, normalizeVaeKeys, vaeParams } from "./weights.js";

export type VaeBackend = "onnx" | "eager";

/** Records a named activation (receives its own reference). */
export type VaeTap = (name: string, value: Array) => void;

export interface MidBlockParams {
  resnets: { "0": ResnetParams; "1": ResnetParams };
  attentions: { "0": AttentionParams };
}

export interface EncoderParams {
  conv_in: ConvParams;
  down_blocks: Record<string, { resnets: Record<string, ResnetParams>; downsamplers?: { "0": { conv: ConvParams } } }>;
  mid_block: MidBlockParams;
  conv_norm_out: NormParams;
  conv_out: ConvParams;
}

export interface DecoderParams {
  conv_in: ConvParams;
  up_blocks: Record<string, { resnets: Record<string, ResnetParams>; upsamplers?: { "0": { conv: ConvParams } } }>;
  mid_block: MidBlockParams;
  conv_norm_out: NormParams;
  conv_out: ConvParams;
}

function midBlock(p: MidBlockParams, x: Array, groups: number): Array {
  x = resnet(p.resnets["0"], x, groups);
  x = attention(p.attentions["0"], x, groups);
  return resnet(p.resnets["1"], x, groups);
}

/** Encoder + quant_conv: images (N, C, H, W) → moments (N, 2·latent, H/f, W/f). Taps use the fixture names. */
export function encoderForward(c: VaeConfig, p: EncoderParams, quant: ConvParams, x: Array, tap?: VaeTap): Array {
  const g = c.normNumGroups;
  let h = conv2d(p.conv_in, x);
  tap?.("enc_conv_in_out", h.ref);
  c.blockOutChannels.forEach((_, i) => {
    const b = p.down_blocks[String(i)]!;
    for (let j = 0; j < c.layersPerBlock; j++) h = resnet(b.resnets[String(j)]!, h, g);
    if (b.downsamplers) h = downsample(b.downsamplers["0"], h);
    tap?.(`enc_down_blocks_${i}_out`, h.ref);
  });
  h = midBlock(p.mid_block, h, g);
  tap?.("enc_mid_block_out", h.ref);
  h = conv2d(p.conv_out, nn.silu(groupNorm(p.conv_norm_out, h, g)));
  tap?.("enc_out", h.ref);
  return conv1x1(quant, h);
}

/** post_quant_conv + decoder: latents (N, latent, h, w) → images (N, C, h·f, w·f). */
export function decoderForward(c: VaeConfig, postQuant: ConvParams, p: DecoderParams, z: Array, tap?: VaeTap): Array {
  const g = c.normNumGroups;
  let h = conv2d(p.conv_in, conv1x1(postQuant, z));
  tap?.("dec_conv_in_out", h.ref);
  h = midBlock(p.mid_block, h, g);
  tap?.("dec_mid_block_out", h.ref);
  c.blockOutChannels.forEach((_, i) => {
    const b = p.up_blocks[String(i)]!;
    for (let j = 0; j <= c.layersPerBlock; j++) h = resnet(b.resnets[String(j)]!, h, g);
    if (b.upsamplers) h = upsample(b.upsamplers["0"], h);
    tap?.(`dec_up_blocks_${i}_out`, h.ref);
  });
  return conv2d(p.conv_out, nn.silu(groupNorm(p.conv_norm_out, h, g)));
}

/** The posterior q(z|x): a diagonal Gaussian per latent element (float32 host tensors). */
export class DiagonalGaussian {
  readonly mean: Tensor;
  /** clamp(logvar, -30, 20) */
  readonly logvar: Tensor;
  readonly std: Tensor;

  constructor(moments: Tensor) {
    const [n, c2, ...rest] = moments.shape as [number, number, ...number[]];
    const lc = c2 / 2;
    const per = rest.reduce((a, b) => a * b, 1);
    const mean = new Float32Array(n * lc * per);
    const logvar = new Float32Array(n * lc * per);
    const std = new Float32Array(n * lc * per);
    const src = moments.data as Float32Array;
    for (let b = 0; b < n; b++) {
      mean.set(src.subarray(b * c2 * per, (b * c2 + lc) * per), b * lc * per);
      logvar.set(src.subarray((b * c2 + lc) * per, (b + 1) * c2 * per), b * lc * per);
    }
    for (let i = 0; i < logvar.length; i++) {
      logvar[i] = Math.min(20, Math.max(-30, logvar[i]!));
      std[i] = Math.exp(0.5 * logvar[i]!);
    }
    const shape = [n, lc, ...rest];
    this.mean = new Tensor(mean, shape);
    this.logvar = new Tensor(logvar, shape);
    this.std = new Tensor(std, [...shape]);
  }

  /** mean + std · ε, with ε given (same shape) or drawn from `rng`. */
  sample(noise: Tensor | Rng): Tensor {
    const n = this.mean.data.length;
    const eps = noise instanceof Tensor ? noise : new Tensor(noise.normals(n), [...this.mean.shape]);
    if (eps.shape.join() !== this.mean.shape.join()) throw new Error(`sample: noise shape [${eps.shape}] != latent shape [${this.mean.shape}]`);
    const out = new Float32Array(n);
    const m = this.mean.data as Float32Array;
    const s = this.std.data as Float32Array;
    const e = eps.data as Float32Array;
    for (let i = 0; i < n; i++) out[i] = m[i]! + s[i]! * e[i]!;
    return new Tensor(out, [...this.mean.shape]);
  }

  /** The posterior mode (= mean). */
  mode(): Tensor {
    return this.mean;
  }
}

/** Named activations of one encode or decode (fixture names). */
export type VaeIntermediates = Map<string, Tensor>;

export interface VaeOptions {
  backend?: VaeBackend;
  /** Images per compiled call (memory bound); default 4. */
  chunkSize?: number;
}

/** Split a batch (axis 0) into chunks of at most k. */
function chunks(t: Tensor, k: number): Tensor[] {
  const n = t.shape[0]!;
  if (n <= k) return [t];
  const per = t.data.length / n;
  const out: Tensor[] = [];
  for (let s = 0; s < n; s += k) {
    const e = Math.min(n, s + k);
    out.push(new Tensor((t.data as Float32Array).slice(s * per, e * per), [e - s, ...t.shape.slice(1)]));
  }
  return out;
}

function concat(ts: Tensor[]): Tensor {
  if (ts.length === 1) return ts[0]!;
  const data = new Float32Array(ts.reduce((s, t) => s + t.data.length, 0));
  let off = 0;
  for (const t of ts) {
    data.set(t.data as Float32Array, off);
    off += t.data.length;
  }
  return new Tensor(data, [ts.reduce((s, t) => s + t.shape[0]!, 0), ...ts[0]!.shape.slice(1)]);
}

export class AutoencoderKL {
  readonly config: VaeConfig;
  readonly weights: StateDict;
  private readonly build: typeof compile;
  private readonly chunkSize: number;
  private fns = new Map<string, CompiledFunction>();

  /** `weights`: a diffusers state dict (either attention naming). */
  constructor(config: VaeConfig, weights: StateDict, opts: VaeOptions = {}) {
    this.config = validateVaeConfig(config);
    this.weights = normalizeVaeKeys(weights);
    checkVaeStateDict(this.config, this.weights);
    this.build = opts.backend === "eager" ? (eager as typeof compile) : compile;
    this.chunkSize = opts.chunkSize ?? 4;
  }

  private fn(name: string, make: () => (...a: never[]) => unknown): CompiledFunction {
    let f = this.fns.get(name);
    if (!f) {
      f = this.build(make());
      this.fns.set(name, f);
    }
    return f;
  }

  private encoderFn(tapped: boolean): CompiledFunction {
    const c = this.config;
    return this.fn(tapped ? "enc+taps" : "enc", () =>
      ((p: EncoderParams, q: ConvParams, x: Array) => {
        if (!tapped) return encoderForward(c, p, q, x);
        const rec: Record<string, Array> = {};
        const moments = encoderForward(c, p, q, x, (k, v) => (rec[k] = v));
        return { ...rec, moments };
      }) as never,
    );
  }

  private decoderFn(tapped: boolean): CompiledFunction {
    const c = this.config;
    return this.fn(tapped ? "dec+taps" : "dec", () =>
      ((q: ConvParams, p: DecoderParams, z: Array) => {
        if (!tapped) return decoderForward(c, q, p, z);
        const rec: Record<string, Array> = {};
        const decoded = decoderForward(c, q, p, z, (k, v) => (rec[k] = v));
        return { ...rec, decoded };
      }) as never,
    );
  }

  /** The raw encoder moments (N, 2·latent, h, w): mean channels first, then logvar (unclamped). */
  async moments(images: Tensor, intermediates?: VaeIntermediates): Promise<Tensor> {
    const c = this.config;
    if (images.shape.length !== 4 || images.shape[1] !== c.inChannels) {
      throw new Error(`encode: images must be (N, ${c.inChannels}, H, W), got [${images.shape}]`);
    }
    const run = (tapped: boolean) => (part: Tensor) => this.encoderFn(tapped)(vaeParams(this.weights, "encoder."), vaeParams(this.weights, "quant_conv."), part);
    return this.chunked(images, "moments", run, intermediates);
  }

  /** encode(images) → the latent distribution; images (N, C, H, W) in [-1, 1]. */
  async encode(images: Tensor, intermediates?: VaeIntermediates): Promise<DiagonalGaussian> {
    return new DiagonalGaussian(await this.moments(images, intermediates));
  }

  /** decode(latents) → images (N, C, h·f, w·f), unclamped. Latents are unscaled (divide DiT latents by SCALING_FACTOR first). */
  async decode(latents: Tensor, intermediates?: VaeIntermediates): Promise<Tensor> {
    const c = this.config;
    if (latents.shape.length !== 4 || latents.shape[1] !== c.latentChannels) {
      throw new Error(`decode: latents must be (N, ${c.latentChannels}, h, w), got [${latents.shape}]`);
    }
    const run = (tapped: boolean) => (part: Tensor) => this.decoderFn(tapped)(vaeParams(this.weights, "post_quant_conv."), vaeParams(this.weights, "decoder."), part);
    return this.chunked(latents, "decoded", run, intermediates);
  }

  /**
   * Run a stage over the batch in chunks of `chunkSize` (bounded memory) and
   * concatenate; with `intermediates`, the tapped variant also collects every
   * named activation, concatenated the same way.
   */
  private async chunked(
    input: Tensor,
    outKey: string,
    run: (tapped: boolean) => (part: Tensor) => Promise<unknown>,
    intermediates?: VaeIntermediates,
  ): Promise<Tensor> {
    const outs: Tensor[] = [];
    const taps = new Map<string, Tensor[]>();
    for (const part of chunks(input, this.chunkSize)) {
      if (intermediates) {
        const r = (await run(true)(part)) as Record<string, Tensor>;
        for (const [k, v] of Object.entries(r)) if (k !== outKey) taps.set(k, [...(taps.get(k) ?? []), v]);
        outs.push(r[outKey]!);
      } else {
        outs.push((await run(false)(part)) as Tensor);
      }
    }
    if (intermediates) for (const [k, v] of taps) intermediates.set(k, concat(v));
    return concat(outs);
  }

  /** Release compiled sessions. */
  async dispose(): Promise<void> {
    for (const f of this.fns.values()) await f.dispose();
    this.fns.clear();
  }
}

/** Multiply every element by `s` (the pipeline-boundary scaling). */
export function scaleTensor(t: Tensor, s: number): Tensor {
  return new Tensor(Float32Array.from(t.data as Float32Array, (v) => v * s), [...t.shape]);
}
