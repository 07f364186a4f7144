/**
 * The settings manifest of a sharded sample folder (`.dit-sample.json`, the
 * name plain runs use, so readers of sample folders find the labels): every
 * setting that decides the images — checkpoint and VAE hashes, model config,
 * sampler, steps, guidance scale and mode, seed, N, image size, classes — and
 * the label and file name of every image. The content is a function of the
 * settings alone, so shards started together write identical bytes; the first
 * one to link it into place wins, the others check theirs against it, and a
 * shard with other settings is refused, naming the setting that differs.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { StateDict } from "../io/state-dict.js";
import { SampleError } from "./errors.js";
import { MANIFEST } from "./outputs.js";
import type { SamplePlan } from "./sample.js";

/** The `format` of a sharded folder's manifest (plain runs' manifests have none). */
export const SHARD_FORMAT = "dit-sample-shards/1";

/** Everything that decides a sharded set's images (batch size does not: image k depends on (seed, k) alone). */
export interface ShardSettings {
  /** SHA-256 of the DiT weights (see `weightsHash`). */
  checkpoint: string;
  /** SHA-256 of the VAE weights; null in pixel space. */
  vae: string | null;
  /** The DiT config (official kwargs' fields). */
  config: Record<string, unknown>;
  sampler: string;
  steps: number;
  cfg_scale: number;
  cfg_mode: string;
  seed: number;
  num_samples: number;
  /** [H, W, C]. */
  image_size: [number, number, number];
  /** Class ids the labels cycle through; null for random labels. */
  classes: number[] | null;
}

export interface ShardManifest {
  format: typeof SHARD_FORMAT;
  settings: ShardSettings;
  /** Label of image k. */
  labels: number[];
  /** File of image k (`000123.png`), as plain runs list theirs. */
  files: string[];
  classes: number[] | null;
  sampler: string;
  steps: number;
  cfg_scale: number;
  seed: number;
}

/** A setting's human name in messages. */
const SETTING_NAMES: Record<keyof ShardSettings, string> = {
  checkpoint: "checkpoint (SHA-256 of the DiT weights)",
  vae: "VAE (SHA-256 of its weights)",
  config: "model config",
  sampler: "sampler",
  steps: "sampling steps",
  cfg_scale: "guidance scale",
  cfg_mode: "guidance mode",
  seed: "seed",
  num_samples: "number of samples",
  image_size: "image size",
  classes: "classes",
};

/** Image k's file name: its index, 6 digits (`000123.png`, as sample_ddp.py). */
export function imageFileName(k: number): string {
  return `${String(k).padStart(6, "0")}.png`;
}

/**
 * SHA-256 of a state dict, independent of its file format: over the tensors
 * in sorted name order, each as name, dtype, shape and raw little-endian bytes.
 */
export function weightsHash(weights: StateDict): string {
  const h = createHash("sha256");
  for (const name of [...weights.keys()].sort()) {
    const t = weights.get(name)!;
    const d = t.data;
    h.update(`${name}\0${t.dtype}\0${t.shape.join(",")}\0`);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

/** The settings of a plan (hashing the weights reads every byte once: seconds for DiT-XL). */
export function shardSettings(plan: SamplePlan): ShardSettings {
  return {
    checkpoint: weightsHash(plan.model.weights),
    vae: plan.vae ? weightsHash(plan.vae.weights) : null,
    config: Object.fromEntries(Object.entries(plan.model.config).sort(([a], [b]) => (a < b ? -1 : 1))), // sorted: same bytes whatever the load path
    sampler: plan.sampler,
    steps: plan.steps,
    cfg_scale: plan.cfgScale,
    cfg_mode: plan.guided ? plan.cfgMode : "none",
    seed: plan.seed,
    num_samples: plan.labels.length,
    image_size: [...plan.image],
    classes: plan.classes ? [...plan.classes] : null,
  };
}

/** The manifest of a plan's sharded folder. */
export function shardManifest(plan: SamplePlan, settings: ShardSettings = shardSettings(plan)): ShardManifest {
  const labels = Array.from(plan.labels);
  return {
    format: SHARD_FORMAT,
    settings,
    labels,
    files: labels.map((_, k) => imageFileName(k)),
    classes: settings.classes,
    sampler: settings.sampler,
    steps: settings.steps,
    cfg_scale: settings.cfg_scale,
    seed: settings.seed,
  };
}

const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

/** The settings that differ between a folder's manifest and a run's, as "name: folder X, this run Y". */
export function settingsDiff(folder: ShardSettings, run: ShardSettings): string[] {
  const out: string[] = [];
  for (const k of Object.keys(SETTING_NAMES) as (keyof ShardSettings)[]) {
    const a = folder[k];
    const b = run[k];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (k === "config" && a && b && typeof a === "object" && typeof b === "object") {
      const fa = a as Record<string, unknown>;
      const fb = b as Record<string, unknown>;
      const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((f) => JSON.stringify(fa[f]) !== JSON.stringify(fb[f]));
      out.push(`model config (${keys.map((f) => `${f}: folder ${show(fa[f])}, this run ${show(fb[f])}`).join("; ")})`);
    } else out.push(`${SETTING_NAMES[k]}: folder ${show(a)}, this run ${show(b)}`);
  }
  return out;
}

/** Read a folder's manifest: null when there is none; throws SampleError for a plain run's or an unreadable one. */
export function readShardManifest(dir: string): ShardManifest | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return null;
  let m: Partial<ShardManifest>;
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as Partial<ShardManifest>;
  } catch (e) {
    throw new SampleError(`${path} is not valid JSON (${e instanceof Error ? e.message : String(e)}); it is not a sharded sample folder's manifest`);
  }
  if (m.format !== SHARD_FORMAT) {
    throw new SampleError(`${dir} holds the outputs of a plain (unsharded) dit sample run (${MANIFEST} has no shard settings); sharded runs need a folder of their own: empty, or made by shards with the same settings`);
  }
  const s = m.settings;
  if (!s || !Array.isArray(m.labels) || !Array.isArray(m.files) || m.labels.length !== s.num_samples || m.files.length !== s.num_samples) {
    throw new SampleError(`${path} is damaged: expected settings and ${s?.num_samples ?? "N"} labels and file names`);
  }
  return m as ShardManifest;
}

/** `.dit-sample.json`-style content of a manifest (deterministic: identical settings give identical bytes). */
function manifestText(m: ShardManifest): string {
  return JSON.stringify(m) + "\n";
}

/**
 * Make sure `dir` holds `manifest`: create it (race-safe: written to a
 * private temporary file, fsynced, then hard-linked into place, which fails
 * if another shard got there first), or check the one there. Throws
 * SampleError naming each setting that differs, for a plain run's folder,
 * and for image files in a folder without a manifest. Returns true when this
 * call created it.
 */
export function ensureShardManifest(dir: string, manifest: ShardManifest): boolean {
  const path = join(dir, MANIFEST);
  const check = () => {
    const have = readShardManifest(dir)!;
    const diff = settingsDiff(have.settings, manifest.settings);
    if (diff.length > 0) {
      throw new SampleError(`${dir} was made with other settings; this shard refuses to write there. Different: ${diff.join("; ")}. Use another --out, or the folder's settings`);
    }
    return false;
  };
  if (existsSync(path)) return check();
  const stray = readdirSync(dir).filter((f) => /^\d+\.png$/.test(f));
  if (stray.length > 0) throw new SampleError(`${dir} holds images (${stray.slice(0, 3).join(", ")}${stray.length > 3 ? ", …" : ""}) but no ${MANIFEST}: their settings are unknown, so a shard will not add to them; use an empty folder`);
  const tmp = join(dir, `.${MANIFEST}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx");
  try {
    const bytes = Buffer.from(manifestText(manifest));
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path); // atomic and exclusive: EEXIST when another shard linked its copy first
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return check();
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}
