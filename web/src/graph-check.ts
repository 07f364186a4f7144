/**
 * Checking a user's `dit export` graph before the page uses it: its inputs and
 * outputs (names, types, ranks, shapes) against the VAE's latents. Pure (no
 * DOM, no ONNX Runtime): the page passes the session's metadata in.
 */

/** A model the page cannot use, with the reason in words. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelError";
  }
}

/** What the DiT graph must match: the VAE's latents. */
export interface VaeGeometry {
  latentChannels: number;
  latentSize: number;
}

/** What a graph's input or output looks like (from the session's metadata). */
export interface IoMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

/** A `dit export` graph's geometry, once checked. */
export interface DiTGraphInfo {
  batch: number;
  inChannels: number;
  inputSize: number;
  outChannels: number;
  conditional: boolean;
}

const fmt = (m: IoMeta) => `${m.name}: ${m.type ?? "?"}[${m.shape?.join(", ") ?? "?"}]`;

/**
 * Check a DiT graph (as `dit export` writes it: inputs x (N, C, S, S) float32,
 * t (N) float32, y (N) int32 for class-conditional models; output out
 * (N, 2C, S, S) for learn_sigma models) against the VAE: C must be its latent
 * channels and S its latent size. Throws ModelError naming what differs.
 */
export function checkDiTGraph(inputs: readonly IoMeta[], outputs: readonly IoMeta[], vae: VaeGeometry): DiTGraphInfo {
  const want = `a \`dit export\` graph has inputs x (N, ${vae.latentChannels}, ${vae.latentSize}, ${vae.latentSize}) float32, t (N) float32, y (N) int32 and the output out (N, ${2 * vae.latentChannels}, ${vae.latentSize}, ${vae.latentSize}) float32`;
  const got = `this graph has inputs ${inputs.map(fmt).join("; ") || "none"} and outputs ${outputs.map(fmt).join("; ") || "none"}`;
  const fail = (why: string): never => {
    throw new ModelError(`${why}. Expected: ${want}; ${got}.`);
  };
  const names = inputs.map((m) => m.name);
  const known = ["x", "t", "y"];
  const extra = names.filter((n) => !known.includes(n));
  if (extra.length > 0) fail(`unexpected input${extra.length > 1 ? "s" : ""} ${extra.join(", ")}`);
  const x = inputs.find((m) => m.name === "x") ?? fail("no input named x");
  const t = inputs.find((m) => m.name === "t") ?? fail("no input named t");
  const y = inputs.find((m) => m.name === "y");
  const out = outputs.length === 1 && outputs[0]!.name === "out" ? outputs[0]! : fail(outputs.length === 1 ? `the output is named ${outputs[0]!.name}, not out` : `${outputs.length} outputs, expected one (out)`);
  const dims = (m: IoMeta, rank: number): number[] => {
    if (!m.isTensor || !m.shape) fail(`${m.name} is not a tensor`);
    if (m.shape!.length !== rank) fail(`${m.name} has rank ${m.shape!.length}, expected ${rank}`);
    return m.shape!.map((d) => (typeof d === "number" && d > 0 ? d : fail(`${m.name} has a symbolic dimension '${String(d)}': export it with a fixed batch (dit export --batch-size B)`)));
  };
  const [N, C, S, S2] = dims(x, 4) as [number, number, number, number];
  if (x.type !== "float32") fail(`x is ${x.type}, expected float32`);
  if (C !== vae.latentChannels) fail(`the model takes ${C} latent channels, the VAE makes ${vae.latentChannels}`);
  if (S !== S2 || S !== vae.latentSize) fail(`the model's latents are ${S}×${S2}, the VAE's are ${vae.latentSize}×${vae.latentSize}`);
  const [tn] = dims(t, 1) as [number];
  if (tn !== N || t.type !== "float32") fail(`t must be float32 (${N})`);
  if (y) {
    const [yn] = dims(y, 1) as [number];
    if (yn !== N || y.type !== "int32") fail(`y must be int32 (${N})`);
  }
  const [on, oc, os, os2] = dims(out, 4) as [number, number, number, number];
  if (out.type !== "float32") fail(`out is ${out.type}, expected float32`);
  if (on !== N || os !== S || os2 !== S) fail(`out must be (${N}, ·, ${S}, ${S})`);
  if (oc !== 2 * C) fail(`out has ${oc} channels: the page's samplers need a learn_sigma model (2 × ${C} = ${2 * C} output channels)`);
  return { batch: N, inChannels: C, inputSize: S, outChannels: oc, conditional: y !== undefined };
}
