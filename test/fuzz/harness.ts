/**
 * The fuzz harness: finds every target in test/fuzz/targets/*.ts, mutates its seeds
 * (seeded, reproducible case by case) and loads each mutant in a worker thread.
 *
 * A case is one mutant of one seed: case i of format F under seed S is a pure function of
 * (S, F, i), so `npm run fuzz -- --format F --seed S --case i` replays it alone. The first
 * cases of a run are the unmutated seeds (they must load). Mutations: bit flips, byte
 * overwrites (0, 0xff, random), truncation at the seed's structural boundaries and at random
 * points, chunk duplication and deletion, huge declared lengths written over u32/u64 fields,
 * and the target's own `lie()` mutants (headers that lie).
 *
 * Outcomes: "load" (the loader resolved), "clean" (it threw a DitError naming the file) or
 * "failure": another throw, a DitError that does not name the file, a hang over 5 s, a crashed
 * worker, or an allocation past `allocBound(file size)` = 64 MiB + 16 × file size (see worker.ts).
 *
 * Known limit: V8 stops a worker that creeps up to its heap limit (reported as a crash), but one
 * single JS-heap allocation far past the limit (say a 1 GB JS array) aborts the whole process,
 * harness included; the run then ends with a non-zero status and the last progress line names the
 * format. Typed arrays and Buffers never get that far: the allocation watch refuses them first.
 */
import { Worker } from "node:worker_threads";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { FuzzSeed, FuzzTarget } from "./target.js";
import type { WorkerReply } from "./worker.js";

/** Fixed part of the allocation bound: 64 MiB. */
export const ALLOC_FIXED = 64 * 2 ** 20;
/** Per-byte part of the allocation bound: 16 × the file size. */
export const ALLOC_PER_BYTE = 16;
/** Bytes a load may allocate for a file of `size` bytes. */
export const allocBound = (size: number): number => ALLOC_FIXED + ALLOC_PER_BYTE * size;
/** The worker's V8 old-generation limit (MiB). */
export const MAX_HEAP_MB = 768;
/** A load that takes longer than this is a hang. */
export const WATCHDOG_MS = 5000;

export const TARGETS_DIR = fileURLToPath(new URL("./targets/", import.meta.url));

export interface TargetModule {
  /** test/fuzz/targets/<file>.ts */
  file: string;
  target: FuzzTarget;
  /** Set when the module could not be imported or exports no target: runTarget reports it as a failure. */
  importError?: string;
}

/** Every target module, sorted by file name; `only` keeps those whose format or file name matches. */
export async function loadTargets(only?: string): Promise<TargetModule[]> {
  const files = readdirSync(TARGETS_DIR)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .sort();
  const out: TargetModule[] = [];
  for (const f of files) {
    const file = join(TARGETS_DIR, f);
    const name = basename(f, ".ts");
    let target: FuzzTarget | undefined;
    let importError: string | undefined;
    try {
      target = ((await import(pathToFileURL(file).href)) as { default?: FuzzTarget }).default;
      if (!target || typeof target.load !== "function" || typeof target.format !== "string") importError = `${file}: does not default-export a FuzzTarget`;
    } catch (e) {
      importError = `${file}: import failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    }
    if (importError !== undefined || !target) {
      if (only && name !== only) continue;
      const broken: FuzzTarget = { format: name, ext: "", seeds: () => [], load: () => undefined };
      out.push({ file, target: broken, importError });
      continue;
    }
    if (only && target.format !== only && name !== only) continue;
    out.push({ file, target });
  }
  return out;
}

// ---------------------------------------------------------------- seeded randomness

/** FNV-1a of a string: the per-case seed. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: a small seeded uniform [0, 1) generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- mutations

export interface Mutant {
  /** Which seed, and what was done to it (for reports). */
  what: string;
  bytes: Uint8Array;
}

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[int(rand, xs.length)]!;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Huge values written over length fields. */
const HUGE_U32 = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000000, 0xfffffff0];
const HUGE_U64 = [2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 53n + 1n, 1_000_000_000_000n, 2n ** 32n, 2n ** 31n];

function generic(seed: FuzzSeed, rand: () => number): Mutant {
  // A plain Uint8Array copy: a seed given as a Node Buffer would make .slice() a shared view, and its
  // mutations would corrupt the seed for every later case.
  const src = new Uint8Array(seed.bytes);
  const n = src.length;
  const at = () => (n ? int(rand, n) : 0);
  const kind = pick(rand, ["bitflip", "bitflip", "overwrite", "overwrite", "truncate-boundary", "truncate", "duplicate", "delete", "huge-u32", "huge-u64"] as const);
  switch (kind) {
    case "bitflip": {
      const out = src.slice();
      const k = 1 + int(rand, rand() < 0.7 ? 1 : 8);
      const flips: string[] = [];
      for (let j = 0; j < k && n; j++) {
        const p = at();
        const bit = int(rand, 8);
        out[p]! ^= 1 << bit;
        flips.push(`${p}.${bit}`);
      }
      return { what: `bitflip ${flips.join(",")}`, bytes: out };
    }
    case "overwrite": {
      const out = src.slice();
      const p = at();
      const len = 1 + int(rand, rand() < 0.5 ? 4 : 16);
      const v = pick(rand, ["0", "ff", "rand"] as const);
      for (let j = p; j < Math.min(n, p + len); j++) out[j] = v === "0" ? 0 : v === "ff" ? 0xff : int(rand, 256);
      return { what: `overwrite ${len}@${p} with ${v}`, bytes: out };
    }
    case "truncate-boundary": {
      const bs = (seed.boundaries ?? []).filter((b) => b >= 0 && b <= n);
      const b = bs.length ? pick(rand, bs) + pick(rand, [-1, 0, 0, 1]) : at();
      const p = Math.max(0, Math.min(n, b));
      return { what: `truncate at ${p} (boundary)`, bytes: src.slice(0, p) };
    }
    case "truncate": {
      const p = at();
      return { what: `truncate at ${p}`, bytes: src.slice(0, p) };
    }
    case "duplicate": {
      const p = at();
      const len = 1 + int(rand, Math.max(1, Math.min(n - p, 256)));
      const q = at();
      const chunk = src.slice(p, p + len);
      const out = new Uint8Array(n + chunk.length);
      out.set(src.subarray(0, q));
      out.set(chunk, q);
      out.set(src.subarray(q), q + chunk.length);
      return { what: `duplicate [${p}, ${p + chunk.length}) at ${q}`, bytes: out };
    }
    case "delete": {
      const p = at();
      const len = 1 + int(rand, Math.max(1, Math.min(n - p, 256)));
      const out = new Uint8Array(n - Math.min(len, n - p));
      out.set(src.subarray(0, p));
      out.set(src.subarray(p + len), p);
      return { what: `delete [${p}, ${p + len})`, bytes: out };
    }
    case "huge-u32":
    case "huge-u64": {
      const width = kind === "huge-u32" ? 4 : 8;
      if (n < width) return { what: "truncate at 0 (too short for a length field)", bytes: new Uint8Array(0) };
      // a structural boundary (where length fields tend to sit) or an aligned random offset
      const bs = (seed.boundaries ?? []).filter((b) => b >= 0 && b + width <= n);
      const p = bs.length && rand() < 0.5 ? pick(rand, bs) : Math.min(n - width, int(rand, n) & ~(width - 1));
      const out = src.slice();
      const view = new DataView(out.buffer);
      const le = rand() < 0.8;
      if (width === 4) {
        const v = pick(rand, HUGE_U32);
        view.setUint32(p, v, le);
        return { what: `u32 ${hex(v)} ${le ? "LE" : "BE"} at ${p}`, bytes: out };
      }
      const v = pick(rand, HUGE_U64);
      view.setBigUint64(p, v, le);
      return { what: `u64 ${v} ${le ? "LE" : "BE"} at ${p}`, bytes: out };
    }
  }
}

/** Case `index` of a format under `seed`: the unmutated seeds first, then generic and lying mutants. */
export function makeCase(target: FuzzTarget, seeds: FuzzSeed[], seed: number, index: number): Mutant {
  if (seeds.length === 0) throw new Error(`${target.format}: seeds() returned no seeds`);
  if (index < seeds.length) return { what: `seed ${seeds[index]!.name} unmutated`, bytes: seeds[index]!.bytes };
  const rand = mulberry32(hash(`${target.format}:${seed}:${index}`));
  const s = seeds[int(rand, seeds.length)]!;
  if (target.lie && rand() < 0.4) {
    const r = target.lie(s, rand);
    if (r instanceof Uint8Array) return { what: `seed ${s.name}, lie`, bytes: r };
    return { what: `seed ${s.name}, lie: ${r.what}`, bytes: r.bytes };
  }
  const m = generic(s, rand);
  return { what: `seed ${s.name}, ${m.what}`, bytes: m.bytes };
}

// ---------------------------------------------------------------- the worker

const WORKER_URL = new URL("./worker.ts", import.meta.url).href;
const TSX_API = import.meta.resolve("tsx/esm/api");

/** One long-lived worker for a target, re-created after a hang or crash. */
class LoadWorker {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private nextId = 0;
  private pending: { id: number; resolve: (r: WorkerReply | { crash: string }) => void } | null = null;

  constructor(
    private readonly targetFile: string,
    private readonly watchdogMs = WATCHDOG_MS,
    private readonly maxHeapMb = MAX_HEAP_MB,
  ) {}

  private start(): Promise<void> {
    // Workers do not inherit `--import tsx` loaders for their entry point: register tsx in an ESM bootstrap.
    const boot = `import { register } from ${JSON.stringify(TSX_API)}; register(); await import(${JSON.stringify(WORKER_URL)});`;
    const w = new Worker(boot, {
      eval: true,
      workerData: { targetFile: this.targetFile, fixed: ALLOC_FIXED, perByte: ALLOC_PER_BYTE },
      resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    this.worker = w;
    this.ready = new Promise<void>((resolve, reject) => {
      let started = false;
      w.on("message", (m: WorkerReply | { ready: true }) => {
        if ("ready" in m) {
          started = true;
          resolve();
          return;
        }
        if (this.pending && this.pending.id === m.id) {
          const p = this.pending;
          this.pending = null;
          p.resolve(m);
        }
      });
      const dead = (why: string) => {
        if (this.worker === w) this.worker = null;
        if (!started) reject(new Error(`fuzz worker for ${this.targetFile} did not start: ${why}`));
        if (this.pending) {
          const p = this.pending;
          this.pending = null;
          p.resolve({ crash: why });
        }
      };
      w.on("error", (e) => dead(`worker crashed: ${e instanceof Error ? `${e.name}: ${e.message}${"code" in e ? ` (${String(e.code)})` : ""}` : String(e)}`));
      w.on("exit", (code) => dead(`worker exited with code ${code}`));
    });
    return this.ready;
  }

  /** Load one file; resolves with the worker's verdict, or a failure for a hang or crash. */
  async load(path: string): Promise<{ outcome: WorkerReply["outcome"]; message: string }> {
    if (!this.worker) await this.start();
    else await this.ready;
    const w = this.worker!;
    const id = this.nextId++;
    const reply = await new Promise<WorkerReply | { crash: string } | { hang: true }>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null;
        resolve({ hang: true });
      }, this.watchdogMs);
      this.pending = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      w.postMessage({ id, path });
    });
    if ("hang" in reply) {
      await this.stop();
      return { outcome: "failure", message: `hang: no answer within ${this.watchdogMs / 1000} s` };
    }
    if ("crash" in reply) {
      await this.stop();
      return { outcome: "failure", message: reply.crash };
    }
    return { outcome: reply.outcome, message: reply.message };
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.pending = null;
    if (w) {
      w.removeAllListeners("exit");
      w.removeAllListeners("error");
      w.on("error", () => {});
      await w.terminate();
    }
  }
}

// ---------------------------------------------------------------- running a format

export interface CaseFailure {
  format: string;
  seed: number;
  index: number;
  what: string;
  message: string;
  /** The command that replays this case alone. */
  reproduce: string;
}

export interface FormatReport {
  format: string;
  cases: number;
  loads: number;
  clean: number;
  failures: CaseFailure[];
  ms: number;
}

export interface RunOptions {
  /** Cases to run (indices 0 … cases − 1). */
  cases: number;
  seed: number;
  /** Run only this case index. */
  only?: number;
  /** The hang watchdog (default WATCHDOG_MS, 5 s). */
  watchdogMs?: number;
  /** The worker's JS heap limit (default MAX_HEAP_MB): a runaway heap ends the worker, a failure. */
  maxHeapMb?: number;
  /** Called after each case (for progress output). */
  onCase?: (done: number, total: number, report: FormatReport) => void;
}

/** Run `cases` seeded cases of one target in its own worker. */
export async function runTarget(mod: TargetModule, opts: RunOptions): Promise<FormatReport> {
  const t0 = performance.now();
  const { target } = mod;
  const report: FormatReport = { format: target.format, cases: 0, loads: 0, clean: 0, failures: [], ms: 0 };
  if (mod.importError !== undefined) {
    report.failures.push({ format: target.format, seed: opts.seed, index: -1, what: "importing the target", message: mod.importError, reproduce: `npm run fuzz -- --format ${target.format}` });
    return report;
  }
  const seeds = await target.seeds();
  const dir = mkdtempSync(join(tmpdir(), `dit-fuzz-${target.format}-`));
  const worker = new LoadWorker(mod.file, opts.watchdogMs, opts.maxHeapMb);
  const indices = opts.only !== undefined ? [opts.only] : Array.from({ length: opts.cases }, (_, i) => i);
  try {
    for (const index of indices) {
      const fail = (what: string, message: string) =>
        report.failures.push({
          format: target.format,
          seed: opts.seed,
          index,
          what,
          message,
          reproduce: `npm run fuzz -- --format ${target.format} --seed ${opts.seed} --case ${index}`,
        });
      report.cases++;
      let m: Mutant;
      try {
        m = makeCase(target, seeds, opts.seed, index);
      } catch (e) {
        fail("making the mutant", `the target's seeds()/lie() threw: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      const path = join(dir, `case-${index}${target.ext}`);
      writeFileSync(path, m.bytes);
      try {
        const r = await worker.load(path);
        if (r.outcome === "load") report.loads++;
        else if (index < seeds.length) fail(m.what, `an unmutated seed did not load: ${r.message}`);
        else if (r.outcome === "clean") report.clean++;
        else fail(m.what, r.message);
      } finally {
        rmSync(path, { force: true });
      }
      opts.onCase?.(report.cases, indices.length, report);
    }
  } finally {
    await worker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  report.ms = performance.now() - t0;
  return report;
}

/** One line per failure, with the command that replays it. */
export function formatFailure(f: CaseFailure): string {
  return `${f.format} seed=${f.seed} case=${f.index} [${f.what}]: ${f.message}\n    replay: ${f.reproduce}`;
}

/** A markdown-ish table of reports. */
export function formatTable(reports: FormatReport[]): string {
  const rows = [["format", "cases", "loads", "clean errors", "failures", "time"]];
  for (const r of reports) rows.push([r.format, String(r.cases), String(r.loads), String(r.clean), String(r.failures.length), `${(r.ms / 1000).toFixed(1)} s`]);
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join("  ")).join("\n");
}
