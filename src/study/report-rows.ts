/**
 * The raw results a study report reads: `DIR/<study>/runs/<run>.jsonl` (one
 * JSON row a line, one file per finished run) and `DIR/<study>/study.json`
 * (settings, the exact command, the machine), as `dit study` writes them.
 *
 * Row contract (issue 12):
 * - scaling and ablation: one row per evaluation point, `{study, run, config,
 *   seed, gflops, params, step, batch_size, train_compute_gflops (= gflops ×
 *   batch_size × step × 3), fid, eval_samples, eval_sampler, eval_steps,
 *   wall_s, grid?}`;
 * - sampling-compute: one row per (checkpoint, sampler, steps), `{study, run,
 *   config, gflops, params, train_step, sampler, sampling_steps,
 *   sampling_compute_gflops (= gflops × sampling_steps), fid, eval_samples,
 *   wall_s}`.
 * A malformed row throws `StudyResultsError` naming the file and the line.
 */
import { DitError } from "../errors.js";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SamplingRow as WrittenSamplingRow, TrainRow } from "./rows.js";
import { STUDY_NAMES, type StudyConfig, type StudyName } from "./settings.js";

export { STUDY_NAMES, type StudyName };

/** Bad or inconsistent raw results; the message names the file (and line). */
export class StudyResultsError extends DitError {
  override name = "StudyResultsError";
}

/**
 * The rows as the report reads them: the runner's schema (rows.ts), except
 * that names it does not itself interpret (the block, the samplers) are read as
 * any string, and a config may carry more fields.
 */
export type StudyRowConfig = Omit<StudyConfig, "block"> & { block: string; [k: string]: unknown };

/** One evaluation point of a scaling or ablation run. */
export type TrainingRow = Omit<TrainRow, "config" | "eval_sampler"> & { config: StudyRowConfig; eval_sampler: string };

/** One (checkpoint, sampler, steps) point of the sampling-compute study. */
export type SamplingRow = Omit<WrittenSamplingRow, "config" | "sampler"> & { config: StudyRowConfig; sampler: string };

export type StudyRow = TrainingRow | SamplingRow;

/** `study.json`, read loosely: what the runner records is shown as it is. */
export interface StudyMeta {
  /** The exact command that produced the rows. */
  command?: string;
  settings?: Record<string, unknown>;
  machine?: Record<string, unknown>;
  /** Every other top-level field. */
  extra: Record<string, unknown>;
}

export interface StudyResults {
  study: StudyName;
  dir: string;
  /** Null when `study.json` is absent. */
  meta: StudyMeta | null;
  /** Every row of every `runs/*.jsonl`, files in name order, lines in file order. */
  rows: StudyRow[];
  /** The run files read (relative to `dir`). */
  files: string[];
  /**
   * Rows of runs continued past the study's steps (`longer/*.jsonl`, written by
   * scripts/study-extend.ts; training studies only): the study's own evaluations, then the later ones.
   */
  longerRows: StudyRow[];
  notes: string[];
}

const CONFIG_NUMBERS = ["hidden_size", "depth", "num_heads", "patch_size", "input_size", "in_channels"] as const;
const TRAINING_NUMBERS = ["seed", "gflops", "params", "step", "batch_size", "train_compute_gflops", "fid", "eval_samples", "eval_steps", "wall_s"] as const;
const SAMPLING_NUMBERS = ["gflops", "params", "train_step", "sampling_steps", "sampling_compute_gflops", "fid", "eval_samples", "wall_s"] as const;
/** Quantities that must be > 0 (FID and the rest may be 0). */
const POSITIVE = new Set(["gflops", "params", "batch_size", "eval_samples", "sampling_steps", "sampling_compute_gflops", "hidden_size", "depth", "num_heads", "patch_size", "input_size", "in_channels"]);

/**
 * Validate one parsed row of `study`'s results; `where` ("file:line") prefixes
 * every error. Returns the row typed.
 */
export function validateRow(value: unknown, study: StudyName, where: string): StudyRow {
  const fail = (msg: string): never => {
    throw new StudyResultsError(`${where}: ${msg}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`expected a JSON object (one result row), got ${Array.isArray(value) ? "an array" : JSON.stringify(value)}`);
  const r = value as Record<string, unknown>;
  if (r.study !== study) fail(`'study' is ${JSON.stringify(r.study)}; expected "${study}" (the folder it is in)`);
  const str = (o: Record<string, unknown>, k: string, prefix = "") => {
    if (typeof o[k] !== "string" || (o[k] as string).length === 0) fail(`'${prefix}${k}' must be a non-empty string, got ${JSON.stringify(o[k])}`);
  };
  const num = (o: Record<string, unknown>, k: string, prefix = "") => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v)) fail(`'${prefix}${k}' must be a finite number, got ${JSON.stringify(v)}`);
    if ((v as number) < 0 || (POSITIVE.has(k) && v === 0)) fail(`'${prefix}${k}' must be ${POSITIVE.has(k) ? "> 0" : "≥ 0"}, got ${v}`);
  };
  str(r, "run");
  const c = r.config;
  if (typeof c !== "object" || c === null || Array.isArray(c)) fail(`'config' must be an object {name, hidden_size, depth, num_heads, patch_size, input_size, in_channels, block}, got ${JSON.stringify(c)}`);
  const cfg = c as Record<string, unknown>;
  str(cfg, "name", "config.");
  for (const k of CONFIG_NUMBERS) num(cfg, k, "config.");
  str(cfg, "block", "config.");
  if (study === "sampling-compute") {
    for (const k of SAMPLING_NUMBERS) num(r, k);
    str(r, "sampler");
    if (!Number.isInteger(r.sampling_steps)) fail(`'sampling_steps' must be an integer, got ${r.sampling_steps}`);
  } else {
    for (const k of TRAINING_NUMBERS) num(r, k);
    for (const k of ["eval_sampler"]) str(r, k);
    if (!Number.isInteger(r.step)) fail(`'step' must be an integer, got ${r.step}`);
    if (r.grid !== undefined) str(r, "grid");
  }
  return r as unknown as StudyRow;
}

/** Parse one run file's text (JSONL; blank lines ignored). */
export function parseStudyRows(text: string, study: StudyName, source: string): StudyRow[] {
  return parseLines(text, study, source).map((l) => l.row);
}

function parseLines(text: string, study: StudyName, source: string): { row: StudyRow; line: number }[] {
  const rows: { row: StudyRow; line: number }[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new StudyResultsError(`${source}:${i + 1}: not JSON (${(e as Error).message}); expected one result row object per line`, { cause: e });
    }
    rows.push({ row: validateRow(v, study, `${source}:${i + 1}`), line: i + 1 });
  });
  return rows;
}

/** Read `study.json` (null when absent); a file that is not a JSON object throws naming it. */
export function readStudyMeta(path: string): StudyMeta | null {
  if (!existsSync(path)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new StudyResultsError(`${path}: not JSON (${(e as Error).message}); expected the study's settings object`, { cause: e });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new StudyResultsError(`${path}: expected a JSON object {settings, command, machine, …}`);
  const { command, settings, machine, ...extra } = v as Record<string, unknown>;
  const obj = (x: unknown, k: string) => {
    if (x === undefined) return undefined;
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw new StudyResultsError(`${path}: '${k}' must be an object, got ${JSON.stringify(x)}`);
    return x as Record<string, unknown>;
  };
  let cmd: string | undefined;
  if (typeof command === "string") cmd = command;
  else if (Array.isArray(command) && command.every((a) => typeof a === "string")) cmd = command.map(shellQuote).join(" ");
  else if (command !== undefined) throw new StudyResultsError(`${path}: 'command' must be a string or an array of strings, got ${JSON.stringify(command)}`);
  return { command: cmd, settings: obj(settings, "settings"), machine: obj(machine, "machine"), extra };
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
}

/**
 * Read one study's folder `DIR/<study>/`: `study.json` and every
 * `runs/*.jsonl`. A folder without results gives no rows (and a note); a
 * (run, step) — sampling-compute: (run, sampler, sampling_steps) — given
 * twice throws, naming both places.
 */
export function readStudyResults(resultsDir: string, study: StudyName): StudyResults {
  const dir = join(resultsDir, study);
  const notes: string[] = [];
  const meta = readStudyMeta(join(dir, "study.json"));
  const runsDir = join(dir, "runs");
  const { rows, files } = readRunFiles(dir, "runs", study);
  const longer = study === "sampling-compute" ? { rows: [] } : readRunFiles(dir, "longer", study);
  if (!meta) notes.push(`${study}: no study.json in ${dir}: settings, command and machine unknown`);
  if (rows.length === 0) notes.push(`${study}: no results in ${runsDir} (no rows in runs/*.jsonl); skipped`);
  return { study, dir, meta, rows, files, longerRows: longer.rows, notes };
}

/** Every row of `<dir>/<sub>/*.jsonl` (files in name order), one row per point. */
function readRunFiles(dir: string, sub: string, study: StudyName): { rows: StudyRow[]; files: string[] } {
  const runsDir = join(dir, sub);
  const files = existsSync(runsDir) && statSync(runsDir).isDirectory() ? readdirSync(runsDir).filter((f) => f.endsWith(".jsonl")).sort() : [];
  const rows: StudyRow[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const rel = join(sub, f);
    const fileRows = parseLines(readFileSync(join(runsDir, f), "utf8"), study, join(dir, rel));
    for (const { row: r, line } of fileRows) {
      const key = r.study === "sampling-compute" ? `${r.run} ${r.sampler} ${r.sampling_steps}` : `${r.run} ${r.step}`;
      const here = `${join(dir, rel)}:${line}`;
      const prev = seen.get(key);
      if (prev) throw new StudyResultsError(`${here}: run '${r.run}' ${r.study === "sampling-compute" ? `${r.sampler} ${r.sampling_steps} steps` : `step ${r.step}`} is already given at ${prev}; expected one row per point`);
      seen.set(key, here);
      rows.push(r);
    }
  }
  return { rows, files: files.map((f) => join(sub, f)) };
}
