/**
 * DiT configurations: the 12 official models as a table (as in the official
 * `models.py`), plus any custom size.
 */
import { DitError } from "../errors.js";

/** A model config that is not a valid DiT: wrong types, unknown names or fields, sizes out of range. */
export class ModelConfigError extends DitError {
  override name = "ModelConfigError";
}

/** How timestep and class condition the blocks (the paper's Section 3.2 ablation). */
export type BlockType = "adaLN-Zero" | "adaLN" | "cross-attention" | "in-context";
export const BLOCK_TYPES: readonly BlockType[] = ["adaLN-Zero", "adaLN", "cross-attention", "in-context"];

export interface DiTConfig {
  /** Latent side length (32 for 256-px images with the SD VAE). */
  inputSize: number;
  patchSize: number;
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** Probability of dropping the label during training; > 0 adds the null class row. */
  classDropoutProb: number;
  /** Number of classes; 0 or 1 for an unconditional model (no label embedder). */
  numClasses: number;
  /** Predict a variance too (output channels 2 × inChannels). */
  learnSigma: boolean;
  block: BlockType;
}

/** Depth, hidden size and heads of the four official sizes. */
export const SIZES = {
  S: { depth: 12, hiddenSize: 384, numHeads: 6 },
  B: { depth: 12, hiddenSize: 768, numHeads: 12 },
  L: { depth: 24, hiddenSize: 1024, numHeads: 16 },
  XL: { depth: 28, hiddenSize: 1152, numHeads: 16 },
} as const;

export const PATCH_SIZES = [2, 4, 8] as const;

/** The 12 official model names, in the paper's order (S/8 … XL/2). */
export const OFFICIAL_MODELS: readonly string[] = (Object.keys(SIZES) as (keyof typeof SIZES)[]).flatMap((s) =>
  [...PATCH_SIZES].reverse().map((p) => `DiT-${s}/${p}`),
);

export const DEFAULTS: Omit<DiTConfig, "depth" | "hiddenSize" | "numHeads" | "patchSize"> = {
  inputSize: 32,
  inChannels: 4,
  mlpRatio: 4,
  classDropoutProb: 0.1,
  numClasses: 1000,
  learnSigma: true,
  block: "adaLN-Zero",
};

/** Largest value accepted for each integer size (a guard against configs that would allocate without bound). */
export const CONFIG_LIMITS = {
  inputSize: 4096,
  patchSize: 256,
  inChannels: 1024,
  hiddenSize: 16384,
  depth: 1024,
  numHeads: 1024,
  numClasses: 1_000_000,
  mlpRatio: 64,
} as const;
/** Largest parameter count a config may describe (DiT-XL/2 has 675 M). */
export const MAX_PARAMS = 1e10;

const CONFIG_KEYS: readonly (keyof DiTConfig)[] = ["inputSize", "patchSize", "inChannels", "hiddenSize", "depth", "numHeads", "mlpRatio", "classDropoutProb", "numClasses", "learnSigma", "block"];
const KWARG_KEYS: readonly (keyof DiTKwargs)[] = ["input_size", "patch_size", "in_channels", "hidden_size", "depth", "num_heads", "mlp_ratio", "class_dropout_prob", "num_classes", "learn_sigma", "block"];

/** A value from an untrusted config, short and without deep recursion, for an error message. */
function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? `an array of ${v.length}` : "an object";
}

function refuseUnknownKeys(json: object, known: readonly string[], where: string, form: string): void {
  const unknown = Object.keys(json).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw new ModelConfigError(`${where}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.slice(0, 5).map((k) => show(k)).join(", ")} in ${form}; known: ${known.join(", ")}`);
  }
}

/** An official config by name (`DiT-XL/2`, also `XL/2`), with overrides. */
export function officialConfig(name: string, overrides: Partial<DiTConfig> = {}, where?: string): DiTConfig {
  const m = typeof name === "string" ? /^(?:DiT-)?(S|B|L|XL)\/(2|4|8)$/.exec(name.trim()) : null;
  if (!m) {
    throw new ModelConfigError(`${where ? `${where}: ` : ""}unknown model ${typeof name === "string" ? `'${name.length > 40 ? `${name.slice(0, 40)}…` : name}'` : show(name)}: expected one of ${OFFICIAL_MODELS.join(", ")}`);
  }
  const size = SIZES[m[1] as keyof typeof SIZES];
  return validateConfig({ ...DEFAULTS, ...size, patchSize: Number(m[2]), ...overrides }, where);
}

/** A rough parameter count (blocks, embeddings, label table) used only to bound a config before anything is built. */
function roughParams(c: DiTConfig): number {
  const D = c.hiddenSize;
  const P = c.patchSize;
  const T = (c.inputSize / P) ** 2;
  return c.depth * (10 + 2 * c.mlpRatio) * D * D + (c.numClasses + 1) * D + T * D + 2 * c.inChannels * P * P * D + 3 * D * D;
}

/** Check a config for consistency and bounds (`where` names its file in messages); returns it. */
export function validateConfig(c: DiTConfig, where?: string): DiTConfig {
  const bad = (msg: string): never => {
    throw new ModelConfigError(`${where ? `${where}: ` : ""}invalid DiT config: ${msg}`);
  };
  if (c === null || typeof c !== "object") bad(`expected an object, got ${show(c)}`);
  for (const k of ["inputSize", "patchSize", "inChannels", "hiddenSize", "depth", "numHeads"] as const) {
    if (typeof c[k] !== "number" || !Number.isInteger(c[k]) || c[k] <= 0) bad(`${k} must be a positive integer, got ${show(c[k])}`);
    if (c[k] > CONFIG_LIMITS[k]) bad(`${k} ${c[k]} is larger than ${CONFIG_LIMITS[k]}`);
  }
  if (c.inputSize % c.patchSize !== 0) bad(`inputSize ${c.inputSize} is not divisible by patchSize ${c.patchSize}`);
  if (c.hiddenSize % c.numHeads !== 0) bad(`hiddenSize ${c.hiddenSize} is not divisible by numHeads ${c.numHeads}`);
  if (c.hiddenSize % 4 !== 0) bad(`hiddenSize ${c.hiddenSize} must be divisible by 4 (2-D sin-cos position embedding)`);
  if (typeof c.mlpRatio !== "number" || !(c.mlpRatio > 0 && c.mlpRatio <= CONFIG_LIMITS.mlpRatio)) bad(`mlpRatio must be a number in (0, ${CONFIG_LIMITS.mlpRatio}], got ${show(c.mlpRatio)}`);
  if (typeof c.block !== "string" || !BLOCK_TYPES.includes(c.block)) bad(`block ${show(c.block)} is not one of ${BLOCK_TYPES.join(", ")}`);
  if (typeof c.classDropoutProb !== "number" || !(c.classDropoutProb >= 0 && c.classDropoutProb < 1)) bad(`classDropoutProb must be in [0, 1), got ${show(c.classDropoutProb)}`);
  if (typeof c.numClasses !== "number" || !Number.isInteger(c.numClasses) || c.numClasses < 0) bad(`numClasses must be a non-negative integer, got ${show(c.numClasses)}`);
  if (c.numClasses > CONFIG_LIMITS.numClasses) bad(`numClasses ${c.numClasses} is larger than ${CONFIG_LIMITS.numClasses}`);
  if (typeof c.learnSigma !== "boolean") bad(`learnSigma must be true or false, got ${show(c.learnSigma)}`);
  const params = roughParams(c);
  if (params > MAX_PARAMS) bad(`about ${params.toExponential(2)} parameters, more than the ${MAX_PARAMS.toExponential(0)} this library builds`);
  return c;
}

/** Derived sizes. */
export function tokens(c: DiTConfig): number {
  return (c.inputSize / c.patchSize) ** 2;
}
export function outChannels(c: DiTConfig): number {
  return c.learnSigma ? 2 * c.inChannels : c.inChannels;
}
/** Whether the model has a label embedder (numClasses > 1). */
export function isConditional(c: DiTConfig): boolean {
  return c.numClasses > 1;
}

/** The official constructor's keyword arguments (as in a fixture's or train.py's config). */
export interface DiTKwargs {
  input_size?: number;
  patch_size?: number;
  in_channels?: number;
  hidden_size?: number;
  depth?: number;
  num_heads?: number;
  mlp_ratio?: number;
  class_dropout_prob?: number;
  num_classes?: number | null;
  learn_sigma?: boolean;
  block?: BlockType;
}

/** A config from the official `DiT(**kwargs)` arguments (official defaults for missing ones: DiT-XL/2). */
export function configFromKwargs(k: DiTKwargs, where?: string): DiTConfig {
  if (k === null || typeof k !== "object" || Array.isArray(k)) throw new ModelConfigError(`${where ? `${where}: ` : ""}the DiT kwargs must be an object, got ${show(k)}`);
  return validateConfig(
    {
      inputSize: k.input_size ?? 32,
      patchSize: k.patch_size ?? 2,
      inChannels: k.in_channels ?? 4,
      hiddenSize: k.hidden_size ?? 1152,
      depth: k.depth ?? 28,
      numHeads: k.num_heads ?? 16,
      mlpRatio: k.mlp_ratio ?? 4,
      classDropoutProb: k.class_dropout_prob ?? 0.1,
      numClasses: k.num_classes ?? 0,
      learnSigma: k.learn_sigma ?? true,
      block: k.block ?? "adaLN-Zero",
    },
    where,
  );
}

/**
 * A config from parsed JSON. Accepted forms: a parity fixture's config
 * (`{"dit_kwargs": {…}}`), the official constructor kwargs (`{"input_size": …}`),
 * an official name with overrides (`{"model": "DiT-XL/2", "inputSize": 64}`),
 * or a full config in this library's field names. Unknown fields in the kwargs,
 * overrides or full config are refused (a typo would otherwise be ignored);
 * every error is a `ModelConfigError` naming `where`.
 */
export function configFromJson(json: Record<string, unknown>, where = "config"): DiTConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new ModelConfigError(`${where}: a DiT config must be a JSON object, got ${show(json)}`);
  const has = (k: string) => Object.prototype.hasOwnProperty.call(json, k);
  if (has("dit_kwargs")) {
    const k = json.dit_kwargs;
    if (k === null || typeof k !== "object" || Array.isArray(k)) throw new ModelConfigError(`${where}: dit_kwargs must be an object, got ${show(k)}`);
    refuseUnknownKeys(k, KWARG_KEYS, where, "dit_kwargs");
    return configFromKwargs(k as DiTKwargs, where);
  }
  if (has("model")) {
    const { model, ...rest } = json;
    refuseUnknownKeys(rest, CONFIG_KEYS, where, `the overrides of "model"`);
    return officialConfig(model as string, rest as Partial<DiTConfig>, where);
  }
  if (has("input_size") || has("hidden_size") || has("patch_size")) {
    refuseUnknownKeys(json, KWARG_KEYS, where, "the DiT kwargs");
    return configFromKwargs(json as DiTKwargs, where);
  }
  if (has("hiddenSize")) {
    refuseUnknownKeys(json, CONFIG_KEYS, where, "the config");
    return validateConfig({ ...DEFAULTS, ...(json as unknown as DiTConfig) }, where);
  }
  throw new ModelConfigError(`${where}: not a DiT config (expected dit_kwargs, official kwargs, {"model": "DiT-XL/2"} or a full config)`);
}
