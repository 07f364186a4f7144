/**
 * The studies' settings, in code and versioned: the config grids, the
 * training recipe, the evaluation and the presets (`full`, `smoke`).
 *
 * A study's settings are stored in its results folder (`study.json`) and in
 * its work folder; a folder made with other settings is refused, never mixed
 * (results.ts). Everything that changes a number in the results is a setting;
 * where the data lives on this machine is not.
 */
import { BLOCK_TYPES, DEFAULTS, validateConfig, type BlockType, type DiTConfig } from "../model/config.js";
import { countParams, gflops } from "../model/flops.js";
import type { SamplerName } from "../sample/sample.js";
import { StudyError } from "./errors.js";

export type StudyName = "scaling" | "ablation" | "sampling-compute";
export const STUDY_NAMES: readonly StudyName[] = ["scaling", "ablation", "sampling-compute"];
export type PresetName = "full" | "smoke";
export const PRESET_NAMES: readonly PresetName[] = ["full", "smoke"];

/** A model of a study grid, as the rows record it (official kwargs names). */
export interface StudyConfig {
  /** "<size>/<patch>", e.g. "M/2". */
  name: string;
  hidden_size: number;
  depth: number;
  num_heads: number;
  patch_size: number;
  input_size: number;
  in_channels: number;
  block: BlockType;
}

/** The training data: the bundled VAE's latents of the Fashion-MNIST train split (the first `images`, or all). */
export interface StudyData {
  dataset: "fashion-mnist";
  split: "train";
  /** How many training images (from the start of the split); null = all 60000. */
  images: number | null;
  /** The VAE, relative to the package root. */
  vae: string;
}

/** The training recipe, the same for every run of a study. */
export interface StudyRecipe {
  steps: number;
  batch_size: number;
  lr: number;
  ema_decay: number;
  ema_warmup: boolean;
  ckpt_every: number;
}

/** FID-FMNIST of EMA samples: a fixed number, the same noise (seed) and balanced labels i mod 10, no guidance. */
export interface StudyEval {
  /** Evaluate every K steps (K divides the steps: steps / K points along training). */
  every: number;
  samples: number;
  sampler: SamplerName;
  steps: number;
  seed: number;
  net: "fmnist";
  /** The reference: the Fashion-MNIST test split. */
  reference: "fashion-mnist test";
  cfg_scale: 1;
}

/** The per-run sample grid of the final EMA (rows: the 10 classes). */
export interface StudyGrid {
  per_class: number;
  sampler: SamplerName;
  steps: number;
  cfg_scale: number;
  seed: number;
}

/**
 * The weights a study's numbers depend on besides its own (SHA-256 prefixes of the
 * files, as the FID cache keys them): the VAE and the FID feature network. `runStudy`
 * fills them in, so results made with a retrained classifier or VAE are refused, not mixed.
 */
export interface StudyWeights {
  vae: string;
  eval_net: string;
}

/** `dit study scaling` / `ablation`: train every config × seed with one recipe, FID along training. */
export interface TrainStudySettings {
  study: "scaling" | "ablation";
  preset: PresetName;
  data: StudyData;
  configs: StudyConfig[];
  seeds: number[];
  recipe: StudyRecipe;
  eval: StudyEval;
  grid: StudyGrid;
  /** Filled in by runStudy (studyWeights). */
  weights?: StudyWeights;
}

/** `dit study sampling-compute`: the scaling grid's final EMA checkpoints, sampled with more and more steps. */
export interface SamplingStudySettings {
  study: "sampling-compute";
  preset: PresetName;
  /** The scaling study whose checkpoints are sampled (its settings, so another scaling study is refused). */
  scaling: TrainStudySettings;
  sampler: SamplerName;
  sampling_steps: number[];
  samples: number;
  seed: number;
  net: "fmnist";
  reference: "fashion-mnist test";
  cfg_scale: 1;
  /** Filled in by runStudy (studyWeights). */
  weights?: StudyWeights;
}

export type StudySettings = TrainStudySettings | SamplingStudySettings;

/** One run of a study: a config × seed (sampling-compute: a scaling run's checkpoint). */
export interface RunSpec {
  /** File-name-safe id, e.g. "M-2-seed0" or "M-2-in-context-seed1". */
  id: string;
  config: StudyConfig;
  seed: number;
}

/** The bundled VAE (8×8×4 latents of 32×32 grey images). */
export const BUNDLED_VAE = "models/fashion-mnist/vae";

/** A grid config: size (depth, width, heads) × patch on the 8×8×4 latents, 10 classes, learned σ. */
export function studyConfig(size: string, depth: number, hidden: number, heads: number, patch: number, block: BlockType = "adaLN-Zero"): StudyConfig {
  return { name: `${size}/${patch}`, hidden_size: hidden, depth, num_heads: heads, patch_size: patch, input_size: 8, in_channels: 4, block };
}

/** The DiTConfig of a grid config (official defaults: MLP ratio 4, label dropout 0.1, learned σ; 10 classes). */
export function toDiTConfig(c: StudyConfig): DiTConfig {
  return validateConfig({ ...DEFAULTS, inputSize: c.input_size, inChannels: c.in_channels, patchSize: c.patch_size, hiddenSize: c.hidden_size, depth: c.depth, numHeads: c.num_heads, numClasses: 10, block: c.block });
}

/** Forward Gflops per image (flops.ts: the paper's count) and parameters of a grid config. */
export function configCost(c: StudyConfig): { gflops: number; params: number } {
  const d = toDiTConfig(c);
  return { gflops: gflops(d), params: countParams(d) };
}

/**
 * Sizes in the spirit of DiT-S/B/L, scaled down to 8×8 latents; × patch 4, 2, 1
 * (4, 16, 64 tokens, the paper's 16/64/256 divided by 4). Forward Gflops from
 * S/4 (0.00097) to L/1 (0.241): 249× (flops.ts). Params: S 0.33M, M 1.9M, L 5.5M.
 */
export const SCALING_SIZES = [
  { size: "S", depth: 4, hidden: 64, heads: 2 },
  { size: "M", depth: 6, hidden: 128, heads: 4 },
  { size: "L", depth: 8, hidden: 192, heads: 6 },
] as const;
export const SCALING_PATCHES = [4, 2, 1] as const;

function scalingGrid(): StudyConfig[] {
  return SCALING_SIZES.flatMap((s) => SCALING_PATCHES.map((p) => studyConfig(s.size, s.depth, s.hidden, s.heads, p)));
}

/** The ablation's mid-size config (M/2: depth 6, width 128, 4 heads, 16 tokens) with each block. */
function ablationGrid(size = SCALING_SIZES[1], patch = 2): StudyConfig[] {
  return BLOCK_TYPES.map((b) => studyConfig(size.size, size.depth, size.hidden, size.heads, patch, b));
}

const EVAL_BASE = { sampler: "dpm++" as SamplerName, steps: 25, seed: 0, net: "fmnist" as const, reference: "fashion-mnist test" as const, cfg_scale: 1 as const };
const GRID: StudyGrid = { per_class: 8, sampler: "dpm++", steps: 25, cfg_scale: 1, seed: 0 };
const ALL_DATA: StudyData = { dataset: "fashion-mnist", split: "train", images: null, vae: BUNDLED_VAE };

/*
 * Calibration of the full presets, measured on the project machine (2-core AMD EPYC, Node 20.20,
 * ONNX Runtime 1.30) while other jobs kept the load average at 4–6, i.e. pessimistic. Per config:
 * seconds per training step of 64 (fused step, after compilation), and seconds for a FID
 * evaluation of 100 samples × 25 DPM-Solver++ steps (sampling, VAE decode, features):
 *
 *   config  Gflops    s/step(64)  eval 100×25      config  Gflops    s/step(64)  eval 100×25
 *   S/4     0.00097   0.043        3.9 s           M/1     0.0827    1.20        13.5 s
 *   S/2     0.00346   0.104        3.7 s           L/4     0.0163    0.398        4.5 s
 *   S/1     0.0149    0.363        8.9 s           L/2     0.0595    1.03        12.2 s
 *   M/4     0.00552   0.206        4.0 s           L/1     0.241     3.02        39.1 s
 *   M/2     0.0201    0.380        5.6 s           (sum over the 9: 6.75 s/step, 95 s/eval)
 *
 * DDPM sampling of 64 images, 8 vs 64 steps: S/4 1.4 / 1.6 s, M/2 2.4 / 6.5 s, L/1 7.3 / 44.8 s,
 * i.e. about 50 ms per Gflop per sample-step plus ~1.4 s per 64 images (decode, features).
 *
 * Estimates on this machine under that load (an idle machine is faster):
 * - scaling: 1200 steps × 6.75 s = 8100 s, 4 evaluations × ~450 s (500 samples) = 1800 s,
 *   grids ~80 s: ≈ 10,000 s ≈ 2.8 h (budget 3 h);
 * - ablation (M/2, 4 blocks × 2 seeds): 8 × 1600 steps × ~0.40 s = 5100 s, 32 evaluations ×
 *   ~28 s = 900 s, grids ~40 s: ≈ 6000 s ≈ 1.7 h (budget 2 h);
 * - sampling-compute: 200 samples × (8 + 16 + … + 256 = 504 steps) × 0.445 Gflops (the grid's
 *   sum) × 50 ms/Gflop ≈ 2200 s, plus 54 × ~4.4 s decode/features: ≈ 2450 s ≈ 41 min (budget 1 h).
 */
const SCALING_RECIPE: StudyRecipe = { steps: 1200, batch_size: 64, lr: 5e-4, ema_decay: 0.9995, ema_warmup: true, ckpt_every: 150 };
const SCALING_EVAL: StudyEval = { ...EVAL_BASE, every: 300, samples: 500 };
const ABLATION_RECIPE: StudyRecipe = { ...SCALING_RECIPE, steps: 1600, ckpt_every: 200 };
const ABLATION_EVAL: StudyEval = { ...SCALING_EVAL, every: 400 };

/*
 * The smoke presets: the same structure at toy size (3 sizes × 3 patches; 4 blocks × 2 seeds),
 * 8 steps of 8 latents, FID of 20 samples at 4 points, for the tests and CI.
 */
const SMOKE_DATA: StudyData = { ...ALL_DATA, images: 256 };
const SMOKE_RECIPE: StudyRecipe = { steps: 8, batch_size: 8, lr: 5e-4, ema_decay: 0.9995, ema_warmup: true, ckpt_every: 2 };
const SMOKE_EVAL: StudyEval = { ...EVAL_BASE, every: 2, samples: 20, steps: 4 };
const SMOKE_GRID: StudyGrid = { ...GRID, per_class: 2, steps: 4 };
const SMOKE_SIZES = [
  { size: "T", depth: 1, hidden: 32, heads: 2 },
  { size: "U", depth: 2, hidden: 32, heads: 2 },
  { size: "V", depth: 2, hidden: 64, heads: 2 },
] as const;
function smokeScalingGrid(): StudyConfig[] {
  return SMOKE_SIZES.flatMap((s) => SCALING_PATCHES.map((p) => studyConfig(s.size, s.depth, s.hidden, s.heads, p)));
}

function trainSettings(study: "scaling" | "ablation", preset: PresetName): TrainStudySettings {
  if (preset === "smoke") {
    const configs = study === "scaling" ? smokeScalingGrid() : BLOCK_TYPES.map((b) => studyConfig("T", 1, 32, 2, 2, b));
    return { study, preset, data: SMOKE_DATA, configs, seeds: study === "scaling" ? [0] : [0, 1], recipe: SMOKE_RECIPE, eval: SMOKE_EVAL, grid: SMOKE_GRID };
  }
  const configs = study === "scaling" ? scalingGrid() : ablationGrid();
  if (study === "scaling") return { study, preset, data: ALL_DATA, configs, seeds: [0], recipe: SCALING_RECIPE, eval: SCALING_EVAL, grid: GRID };
  return { study, preset, data: ALL_DATA, configs, seeds: [0, 1], recipe: ABLATION_RECIPE, eval: ABLATION_EVAL, grid: GRID };
}

/** The settings of a study preset. */
export function studySettings(study: StudyName, preset: PresetName = "full"): StudySettings {
  if (!STUDY_NAMES.includes(study)) throw new StudyError(`unknown study '${String(study)}': expected one of ${STUDY_NAMES.join(", ")}`);
  if (!PRESET_NAMES.includes(preset)) throw new StudyError(`unknown preset '${String(preset)}': expected one of ${PRESET_NAMES.join(", ")}`);
  if (study !== "sampling-compute") return trainSettings(study, preset);
  const scaling = trainSettings("scaling", preset);
  return {
    study,
    preset,
    scaling,
    sampler: "ddpm", // DDPM on respaced timesteps, as the paper's Fig. 10 (DDIM needs steps that divide 1000)
    sampling_steps: preset === "smoke" ? [2, 4] : [8, 16, 32, 64, 128, 256],
    samples: preset === "smoke" ? 20 : 200,
    seed: 0,
    net: "fmnist",
    reference: "fashion-mnist test",
    cfg_scale: 1,
  };
}

/** The runs of a study, in order: every config × seed (sampling-compute: the scaling runs). */
export function studyRuns(s: StudySettings): RunSpec[] {
  const t = s.study === "sampling-compute" ? s.scaling : s;
  const runs: RunSpec[] = [];
  for (const config of t.configs) {
    for (const seed of t.seeds) {
      const block = t.study === "ablation" ? `-${config.block}` : "";
      runs.push({ id: `${config.name.replace("/", "-")}${block}-seed${seed}`, config, seed });
    }
  }
  return runs;
}

/** Check a train study's settings for consistency (evaluation points divide the steps, ≥ 1 point). */
export function checkSettings(s: StudySettings): void {
  const t = s.study === "sampling-compute" ? s.scaling : s;
  const { steps, ckpt_every } = t.recipe;
  if (t.eval.every <= 0 || steps % t.eval.every !== 0) throw new StudyError(`${t.study}: eval.every ${t.eval.every} must divide recipe.steps ${steps}`);
  if (ckpt_every <= 0 || t.eval.every % ckpt_every !== 0) throw new StudyError(`${t.study}: recipe.ckpt_every ${ckpt_every} must divide eval.every ${t.eval.every}`);
  for (const c of t.configs) toDiTConfig(c);
}
