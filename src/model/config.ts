/**
 * DiT configurations: the 12 official models as a table (as in the official
 * `models.py`), plus any custom size.
 */

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

/** An official config by name (`DiT-XL/2`, also `XL/2`), with overrides. */
export function officialConfig(name: string, overrides: Partial<DiTConfig> = {}): DiTConfig {
  const m = /^(?:DiT-)?(S|B|L|XL)\/(2|4|8)$/.exec(name.trim());
  if (!m) {
    throw new Error(`unknown model '${name}': expected one of ${OFFICIAL_MODELS.join(", ")}`);
  }
  const size = SIZES[m[1] as keyof typeof SIZES];
  return validateConfig({ ...DEFAULTS, ...size, patchSize: Number(m[2]), ...overrides });
}

/** Check a config for consistency; returns it. */
export function validateConfig(c: DiTConfig): DiTConfig {
  const bad = (msg: string) => {
    throw new Error(`invalid DiT config: ${msg}`);
  };
  for (const k of ["inputSize", "patchSize", "inChannels", "hiddenSize", "depth", "numHeads"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.inputSize % c.patchSize !== 0) bad(`inputSize ${c.inputSize} is not divisible by patchSize ${c.patchSize}`);
  if (c.hiddenSize % c.numHeads !== 0) bad(`hiddenSize ${c.hiddenSize} is not divisible by numHeads ${c.numHeads}`);
  if (c.hiddenSize % 4 !== 0) bad(`hiddenSize ${c.hiddenSize} must be divisible by 4 (2-D sin-cos position embedding)`);
  if (!BLOCK_TYPES.includes(c.block)) bad(`block '${c.block}' is not one of ${BLOCK_TYPES.join(", ")}`);
  if (!(c.classDropoutProb >= 0 && c.classDropoutProb < 1)) bad(`classDropoutProb must be in [0, 1), got ${c.classDropoutProb}`);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 0) bad(`numClasses must be a non-negative integer, got ${c.numClasses}`);
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
export function configFromKwargs(k: DiTKwargs): DiTConfig {
  return validateConfig({
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
  });
}

/**
 * A config from parsed JSON. Accepted forms: a parity fixture's config
 * (`{"dit_kwargs": {…}}`), the official constructor kwargs (`{"input_size": …}`),
 * an official name with overrides (`{"model": "DiT-XL/2", "inputSize": 64}`),
 * or a full config in this library's field names.
 */
export function configFromJson(json: Record<string, unknown>, where = "config"): DiTConfig {
  if (json.dit_kwargs && typeof json.dit_kwargs === "object") return configFromKwargs(json.dit_kwargs as DiTKwargs);
  if (typeof json.model === "string") {
    const { model, ...rest } = json;
    return officialConfig(model, rest as Partial<DiTConfig>);
  }
  if ("input_size" in json || "hidden_size" in json || "patch_size" in json) return configFromKwargs(json as DiTKwargs);
  if ("hiddenSize" in json) return validateConfig({ ...DEFAULTS, ...(json as unknown as DiTConfig) });
  throw new Error(`${where}: not a DiT config (expected dit_kwargs, official kwargs, {"model": "DiT-XL/2"} or a full config)`);
}
