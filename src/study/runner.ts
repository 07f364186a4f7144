/**
 * `runStudy(name, options)`: run a study to the end — extract the latents
 * once, then train (or sample) every run that has no results yet, skipping
 * finished ones (a rows file in the results folder, even without its work
 * folder), resuming interrupted ones from their newest checkpoint, k at a
 * time with `workers` (child processes, each with cores / k ORT threads).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_DIR } from "../data/dataset.js";
import { weightsKey } from "../io/weights-key.js";
import { openFeatureNetwork } from "../eval/networks.js";
import { resolveVaePath } from "../vae/load.js";
import { StudyError } from "./errors.js";
import { packagePath, prepareLatents } from "./latents.js";
import { machineInfo } from "./machine.js";
import { checkSameSettings, gitCommitFiles, ResultsFolder, WorkFolder } from "./results.js";
import type { StudyRow } from "./rows.js";
import { samplingStudyRun } from "./sampling-run.js";
import { checkSettings, studyRuns, studySettings, type PresetName, type RunSpec, type StudyName, type StudySettings, type StudyWeights } from "./settings.js";
import { trainStudyRun } from "./train-run.js";

/** Progress events of a study (the CLI draws its display from them). */
export type StudyProgress =
  | { kind: "plan"; study: StudyName; total: number; done: number; pending: string[] }
  | { kind: "latents"; done: number; total: number }
  | { kind: "run-start"; run: string }
  | { kind: "step"; run: string; step: number; steps: number }
  | { kind: "eval"; run: string; step: number; fid: number; sampling_steps?: number }
  | { kind: "run-done"; run: string; done: number; total: number; seconds: number; file: string }
  | { kind: "info"; message: string };

export interface StudyOptions {
  /** A preset of settings.ts (default "full"). */
  preset?: PresetName;
  /** Settings instead of a preset (experiments, tests); stored and checked like a preset's. */
  settings?: StudySettings;
  /** Work folder root: latents and run folders in `<work>/<study>/<run>/` (default "out/studies"). */
  work?: string;
  /** Results root: `<results>/<study>/` (default "docs/studies"). */
  results?: string;
  /** Runs at once, each in a child process (default 1: in this process). */
  workers?: number;
  /** After each finished run, git-commit its rows, its grid and study.json. */
  gitCommit?: boolean;
  /** Fashion-MNIST IDX folder (train split: the data; test split: the FID reference). */
  datasetDir?: string;
  /** The command recorded in study.json (default: this process's arguments). */
  command?: string;
  /** Stop: the runs in progress write a checkpoint and the study returns with `stopped`. */
  signal?: AbortSignal;
  onProgress?: (e: StudyProgress) => void;
}

export interface StudyResult {
  study: StudyName;
  preset: PresetName;
  /** `<results>/<study>` */
  resultsDir: string;
  total: number;
  /** Runs already done before this call. */
  skipped: string[];
  /** Runs finished by this call. */
  finished: string[];
  stopped: boolean;
}

/** What a run needs besides its spec (shared by the in-process path and the workers). */
export interface RunContext {
  settings: StudySettings;
  results: ResultsFolder;
  work: WorkFolder;
  /** The scaling study's work folder (sampling-compute). */
  scalingWork: WorkFolder;
  latents: string;
  datasetDir: string;
  signal?: AbortSignal;
  onProgress?: (e: StudyProgress) => void;
}

/** Run one run to the end and write its rows file (and grid); false when stopped by the signal. */
export async function runOne(ctx: RunContext, run: RunSpec): Promise<boolean> {
  const s = ctx.settings;
  const p = ctx.onProgress;
  p?.({ kind: "run-start", run: run.id });
  let rows: StudyRow[];
  if (s.study === "sampling-compute") {
    const r = await samplingStudyRun({ settings: s, run, scalingDir: ctx.scalingWork.runDir(run.id), dir: ctx.work.runDir(run.id), datasetDir: ctx.datasetDir, signal: ctx.signal, onEval: (_d, _t, row) => p?.({ kind: "eval", run: run.id, step: row.train_step, fid: row.fid, sampling_steps: row.sampling_steps }) });
    if (r.stopped) return false;
    rows = r.rows;
  } else {
    const r = await trainStudyRun({
      settings: s,
      run,
      dir: ctx.work.runDir(run.id),
      latents: ctx.latents,
      datasetDir: ctx.datasetDir,
      grid: { path: ctx.results.gridFile(run.id), ref: ctx.results.gridRef(run.id) },
      signal: ctx.signal,
      onStep: (step, steps) => p?.({ kind: "step", run: run.id, step, steps }),
      onEval: (step, fid) => p?.({ kind: "eval", run: run.id, step, fid }),
    });
    if (r.stopped) return false;
    rows = r.rows;
  }
  ctx.results.writeRun(run.id, rows); // last: a rows file present = the run is done
  return true;
}

/** Node flags that load TypeScript (tsx) or other loaders, to pass on to workers. */
function loaderArgs(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const f = a[i]!;
    if (["--import", "--require", "-r", "--loader", "--experimental-loader"].includes(f) && i + 1 < a.length) out.push(f, a[++i]!);
    else if (/^--(import|require|loader|experimental-loader)=/.test(f)) out.push(f);
  }
  return out;
}

/** The worker script beside this file (worker.ts under tsx, worker.js in dist). */
function workerScript(): { path: string; args: string[] } {
  const ext = extname(fileURLToPath(import.meta.url));
  const path = fileURLToPath(new URL(`./worker${ext}`, import.meta.url));
  const args = loaderArgs();
  if (ext === ".ts" && !args.some((x) => x.includes("tsx"))) args.push("--import", "tsx");
  return { path, args };
}

/** The job a worker gets (one JSON argument). */
export interface WorkerJob {
  /** `<work>/<study>` (its settings.json holds the settings). */
  work: string;
  /** `<work>/scaling` */
  scalingWork: string;
  /** `<results>/<study>` */
  results: string;
  latents: string;
  datasetDir: string;
  run: string;
  threads: number;
}

/** Run `pending` k at a time in child processes; calls `finished(run)` in this process as each ends. */
async function runWorkers(ctx: RunContext, pending: RunSpec[], k: number, finished: (run: RunSpec) => void): Promise<boolean> {
  const threads = Math.max(1, Math.floor(availableParallelism() / k));
  const { path, args } = workerScript();
  const queue = [...pending];
  const live = new Set<ChildProcess>();
  const failures: string[] = [];
  let stopped = false;
  const onAbort = () => {
    stopped = true;
    for (const c of live) c.kill("SIGINT"); // each worker saves a checkpoint and exits
  };
  ctx.signal?.addEventListener("abort", onAbort);
  const one = async (run: RunSpec): Promise<void> => {
    const job: WorkerJob = { work: ctx.work.dir, scalingWork: ctx.scalingWork.dir, results: ctx.results.dir, latents: ctx.latents, datasetDir: ctx.datasetDir, run: run.id, threads };
    const child = spawn(process.execPath, [...args, path, JSON.stringify(job)], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    let rest = "";
    let errTail = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        try {
          const e = JSON.parse(l) as StudyProgress;
          if (e.kind !== "run-done") ctx.onProgress?.(e);
        } catch {
          /* not a progress line */
        }
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      errTail = (errTail + chunk).slice(-2000);
    });
    const code = await new Promise<number | null>((res) => {
      child.on("error", (e) => {
        errTail += e.message;
        res(-1);
      });
      child.on("close", (c) => res(c));
    });
    live.delete(child);
    if (code === 0 && existsSync(ctx.results.runFile(run.id))) finished(run);
    else if (!stopped) failures.push(`${run.id} (exit ${code}): ${errTail.trim().split("\n").slice(-3).join(" | ")}`);
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(k, queue.length) }, async () => {
        for (let run = queue.shift(); run && !stopped; run = queue.shift()) await one(run);
      }),
    );
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
    for (const c of live) c.kill("SIGKILL");
  }
  if (failures.length) throw new StudyError(`${failures.length} run(s) failed in workers: ${failures.join("; ")}. Finished runs are kept; the same command resumes the rest`);
  return !stopped;
}

/** The identities of the VAE and the FID network weights (StudyWeights): the first 16 hex digits of their files' SHA-256. */
export async function studyWeights(s: StudySettings): Promise<StudyWeights> {
  const t = s.study === "sampling-compute" ? s.scaling : s;
  const net = await openFeatureNetwork(t.eval.net);
  try {
    return { vae: weightsKey(resolveVaePath(packagePath(t.data.vae)).weightsPath), eval_net: `${net.name}:${net.weightsKey}` };
  } finally {
    await net.dispose();
  }
}

/** Run a study; see the module comment. */
export async function runStudy(name: StudyName, opts: StudyOptions = {}): Promise<StudyResult> {
  const given = opts.settings ?? studySettings(name, opts.preset ?? "full");
  if (given.study !== name) throw new StudyError(`settings of study '${given.study}' given to '${name}'`);
  checkSettings(given);
  const weights = await studyWeights(given);
  const settings: StudySettings = given.study === "sampling-compute" ? { ...given, weights, scaling: { ...given.scaling, weights } } : { ...given, weights };
  const workers = opts.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new StudyError(`workers must be a positive integer, got ${workers}`);
  const workRoot = opts.work ?? join("out", "studies");
  const results = new ResultsFolder(join(opts.results ?? join("docs", "studies"), name));
  const work = new WorkFolder(join(workRoot, name));
  const scalingWork = new WorkFolder(join(workRoot, "scaling"));
  const datasetDir = opts.datasetDir ?? FASHION_MNIST_DIR;
  const runs = studyRuns(settings);
  const p = opts.onProgress;

  if (existsSync(results.studyFile)) results.check(settings); // other settings: refused before anything else
  const done = results.doneRuns();
  const skipped = runs.filter((r) => done.has(r.id)).map((r) => r.id);
  const pending = runs.filter((r) => !done.has(r.id));
  p?.({ kind: "plan", study: name, total: runs.length, done: skipped.length, pending: pending.map((r) => r.id) });
  const out: StudyResult = { study: name, preset: settings.preset, resultsDir: results.dir, total: runs.length, skipped, finished: [], stopped: false };
  if (pending.length === 0) return out;

  const command = opts.command ?? ["dit", ...process.argv.slice(2)].join(" ");
  work.open(settings); // a work folder trained with other settings is refused before the results folder records this sitting
  results.open(settings, { command, machine: machineInfo(), started: new Date().toISOString() });
  let latents = "";
  if (settings.study === "sampling-compute") {
    const stored = join(scalingWork.dir, "settings.json");
    if (existsSync(stored)) checkSameSettings(scalingWork.dir, JSON.parse(readFileSync(stored, "utf8")) as StudySettings, settings.scaling);
  } else {
    latents = await prepareLatents(workRoot, settings.data, { datasetDir, signal: opts.signal, onProgress: (d, t) => p?.({ kind: "latents", done: d, total: t }) });
  }
  const ctx: RunContext = { settings, results, work, scalingWork, latents, datasetDir, signal: opts.signal, onProgress: p };
  const t0 = new Map<string, number>();
  const finished = (run: RunSpec) => {
    out.finished.push(run.id);
    if (opts.gitCommit) gitCommitFiles([results.runFile(run.id), results.gridFile(run.id), results.studyFile], `study ${name} (${settings.preset}): run ${run.id}`);
    p?.({ kind: "run-done", run: run.id, done: skipped.length + out.finished.length, total: runs.length, seconds: (performance.now() - (t0.get(run.id) ?? performance.now())) / 1000, file: results.runFile(run.id) });
  };
  if (workers === 1 || pending.length === 1) {
    for (const run of pending) {
      if (opts.signal?.aborted) {
        out.stopped = true;
        break;
      }
      t0.set(run.id, performance.now());
      if (!(await runOne(ctx, run))) {
        out.stopped = true;
        break;
      }
      finished(run);
    }
  } else {
    const timed = (e: StudyProgress): void => {
      if (e.kind === "run-start") t0.set(e.run, performance.now());
      p?.(e);
    };
    out.stopped = !(await runWorkers({ ...ctx, onProgress: timed }, pending, workers, finished));
  }
  return out;
}
