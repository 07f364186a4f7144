/**
 * The kill-and-resume soak: a real `dit train` (bin/dit.mjs, a tiny pixel-space
 * DiT on a 24-image IDX set, a checkpoint every 2 steps, a log line every
 * step) is SIGKILLed at seeded moments of three kinds and resumed each time:
 *
 * - "step": inside step S, as its ONNX Runtime compute starts or once its
 *   result is in and not yet stored (inject.ts blocks the process there);
 * - "checkpoint": while checkpoint S is being written (inject.ts blocks the
 *   process after half of one of its writes);
 * - "log": in the middle of the log line of step S (inject.ts writes part of it).
 *
 * The whole process group is killed (the child is spawned detached, and
 * `process.kill(-pid, "SIGKILL")` reaches anything it started). After every
 * kill: every checkpoint on disk loads and equals the uninterrupted run's
 * checkpoint of its step, tensor for tensor; the log's whole lines are steps
 * 1..k once each. At the end: the final model, EMA and Adam moments are
 * bit-identical to the uninterrupted run's, the log has each step once with
 * the same losses, and no temporary file or lock is left.
 *
 * `runKillSoak` is shared by `npm run soak:train` (20 kills) and the CI test (3).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { encodeIdxLabels } from "../../src/data/index.js";
import { encodeIdxImages } from "../../src/io/datasets.js";
import { checkpointPath, loadCheckpoint } from "../../src/train/checkpoint.js";
import { Rng } from "../../src/util/rng.js";
import type { InjectPlan } from "./inject.js";

export type KillPhase = "step" | "checkpoint" | "log";

export interface KillRecord {
  /** What was aimed at. */
  phase: KillPhase;
  /** The step whose step / checkpoint write / log line was hit. */
  step: number;
  /** Where the evidence on disk says the kill landed (for "step": step S's log line is absent). */
  landed: KillPhase;
  /** The step the next run resumes from (newest checkpoint on disk). */
  resumeFrom: number;
  checkpointsOnDisk: number;
  tempFilesLeft: number;
  tornLogLine: boolean;
}

export interface KillSoakResult {
  kills: KillRecord[];
  /** Kills per phase where they landed. */
  landed: Record<string, number>;
  steps: number;
  /** Processes started (killed ones, plus the one that finishes, plus the reference). */
  processes: number;
  wallSeconds: number;
}

export interface KillSoakOptions {
  /** Working folder (data, reference run, killed run). */
  dir: string;
  kills: number;
  seed?: number;
  onEvent?: (line: string) => void;
}

const ROOT = resolve(import.meta.dirname, "..", "..");
const INJECT = join(ROOT, "test", "reliability", "inject.ts");
const CKPT_EVERY = 2;

/** The tiny data set (24 8×8 grey images, 3 classes) and config. */
function writeInputs(dir: string): { data: string; config: string } {
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  const N = 24;
  const S = 8;
  writeFileSync(join(data, "train-images-idx3-ubyte"), encodeIdxImages(Uint8Array.from({ length: N * S * S }, (_, k) => (k * 37 + Math.floor(k / 64) * 11) % 256), N, S, S));
  writeFileSync(join(data, "train-labels-idx1-ubyte"), encodeIdxLabels(Array.from({ length: N }, (_, i) => i % 3)));
  const config = join(dir, "tiny.json");
  writeFileSync(config, JSON.stringify({ input_size: 8, patch_size: 4, in_channels: 1, hidden_size: 16, depth: 2, num_heads: 2, mlp_ratio: 2, class_dropout_prob: 0.1, num_classes: 10, learn_sigma: true }));
  return { data, config };
}

interface ChildRun {
  pid: number;
  /** Resolves with the exit code (null when killed) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** Reports from inject.ts, as they arrive. */
  onReport: (f: (line: string, at: number) => void) => void;
}

function startTrain(inputs: { data: string; config: string }, out: string, steps: number, plan?: InjectPlan): ChildRun {
  const args = ["--import", "tsx", "--import", INJECT, join(ROOT, "bin", "dit.mjs"), "train", "--data", inputs.data, "--vae", "none", "--image-size", "8", "--config", inputs.config];
  args.push("--out", out, "--steps", String(steps), "--batch-size", "4", "--ckpt-every", String(CKPT_EVERY), "--log-every", "1", "--seed", "3", "--ema-warmup", "--resume");
  const p = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true, // its own process group: the kill reaches everything it started
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    env: { ...process.env, DIT_INJECT: JSON.stringify(plan ?? {}), DIT_INJECT_FD: "3" },
  });
  let stderr = "";
  p.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const listeners: ((line: string, at: number) => void)[] = [];
  let buf = "";
  (p.stdio[3] as NodeJS.ReadableStream).on("data", (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      for (const f of listeners) f(line, performance.now());
    }
  });
  running.add(p.pid!);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) =>
    p.on("close", (code, signal) => {
      running.delete(p.pid!);
      res({ code, signal, stderr });
    }),
  );
  return { pid: p.pid!, exited, onReport: (f) => listeners.push(f) };
}

/** Children still running: killed (with their groups) if this process exits first. */
const running = new Set<number>();
process.on("exit", () => running.forEach((pid) => killGroup(pid)));

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Wait until no process of the group is left (killed helpers, such as esbuild's service process, are reaped by init a moment later). */
async function groupGone(pid: number, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (groupAlive(pid)) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Every tensor of a checkpoint (model, EMA, Adam moments) as bytes. */
export function checkpointTensors(path: string): Map<string, Buffer> {
  const ck = loadCheckpoint(path);
  const out = new Map<string, Buffer>();
  const put = (p: string, d: Map<string, { data: ArrayLike<number> }>) => {
    for (const [k, t] of d) out.set(p + k, Buffer.from((t.data as Float32Array).buffer.slice(0)));
  };
  put("model.", ck.state.model);
  put("ema.", ck.state.ema);
  put("adam.exp_avg.", ck.state.adam.expAvg);
  put("adam.exp_avg_sq.", ck.state.adam.expAvgSq);
  out.set("adam.step", Buffer.from(String(ck.state.adam.step)));
  out.set("step", Buffer.from(String(ck.state.step)));
  return out;
}

/** Throws unless two checkpoints hold the same tensors, bit for bit. */
export function assertSameTensors(a: string, b: string): void {
  const ta = checkpointTensors(a);
  const tb = checkpointTensors(b);
  const ka = [...ta.keys()].sort().join();
  if (ka !== [...tb.keys()].sort().join()) throw new Error(`${a} and ${b} hold different tensors`);
  for (const [k, v] of ta) if (!v.equals(tb.get(k)!)) throw new Error(`tensor ${k} differs between ${a} and ${b}`);
}

const CKPT = /^\d{7,}\.safetensors$/;

/** Checks the run folder after a kill; returns what it found. */
function inspect(out: string, ref: string): { steps: number[]; temps: number; logSteps: number[]; torn: boolean } {
  const names = readdirSync(join(out, "checkpoints"));
  const steps: number[] = [];
  let temps = 0;
  for (const n of names) {
    if (CKPT.test(n)) {
      const step = Number(n.split(".")[0]);
      const p = join(out, "checkpoints", n);
      assertSameTensors(p, checkpointPath(ref, step)); // loads (throws if unreadable) and matches the uninterrupted run
      steps.push(step);
    } else if (n.endsWith(".tmp")) temps++;
    else throw new Error(`unexpected file ${n} in ${out}/checkpoints`);
  }
  const { steps: logSteps, torn } = readLog(join(out, "log.jsonl"));
  return { steps: steps.sort((a, b) => a - b), temps, logSteps, torn };
}

/** The steps of a log's whole lines (which must be 1..k once each, parseable) and whether a torn line ends it. */
export function readLog(path: string): { steps: number[]; torn: boolean; records: Record<string, number>[] } {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const lines = text.split("\n");
  const tail = lines.pop()!;
  const records = lines.map((l, i) => {
    try {
      return JSON.parse(l) as Record<string, number>;
    } catch {
      throw new Error(`${path}: line ${i + 1} is not JSON: ${l.slice(0, 80)}`);
    }
  });
  const steps = records.map((r) => r.step!);
  steps.forEach((s, i) => {
    if (s !== i + 1) throw new Error(`${path}: line ${i + 1} is step ${s}, expected ${i + 1} (a torn, duplicated or missing line): ${steps.join(",")}`);
  });
  return { steps, torn: tail !== "", records };
}

const DETERMINISTIC = ["step", "loss", "mse", "vb", "grad_norm", "lr"];

/** Run the soak; throws on the first broken promise. */
export async function runKillSoak(o: KillSoakOptions): Promise<KillSoakResult> {
  const t0 = performance.now();
  const say = o.onEvent ?? (() => undefined);
  const rng = new Rng(o.seed ?? 1);
  const inputs = writeInputs(o.dir);
  const steps = 6 * o.kills + 10;
  const ref = join(o.dir, "reference");
  const out = join(o.dir, "killed");

  // the uninterrupted run, alongside the first killed one (checks wait for it)
  const refRun = startTrain(inputs, ref, steps).exited.then((rr) => {
    if (rr.code !== 0) throw new Error(`the uninterrupted run failed (${rr.code}/${rr.signal}): ${rr.stderr}`);
    say(`reference: ${steps} steps uninterrupted`);
    return readLog(join(ref, "log.jsonl"));
  });
  refRun.catch(() => undefined); // awaited below

  // phases: each kind at least once, in a seeded order
  const phases: KillPhase[] = Array.from({ length: o.kills }, (_, i) => (["step", "checkpoint", "log"] as const)[i % 3]!);
  for (let i = phases.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [phases[i], phases[j]] = [phases[j]!, phases[i]!];
  }

  const kills: KillRecord[] = [];
  let resumeFrom = 0;
  let processes = 1;
  for (const phase of phases) {
    // a target step ahead of the resume point: checkpoint writes happen at even steps; a step kill aims at an even step S (S−1 writes no checkpoint)
    const ahead = 1 + Math.floor(rng.uniform() * 6);
    let S = resumeFrom + ahead;
    if (phase !== "log" && S % CKPT_EVERY !== 0) S++;
    if (S > steps - 2) throw new Error(`the soak ran out of steps (${S} of ${steps})`);
    const plan: InjectPlan =
      phase === "checkpoint"
        ? { pause: "checkpoint", step: S, write: Math.floor(rng.uniform() * 12) }
        : phase === "log"
          ? { pause: "log", step: S, cut: 1 + Math.floor(rng.uniform() * 150) }
          : { pause: "step", step: S, at: rng.uniform() < 0.5 ? "compute" : "result" };
    const c = startTrain(inputs, out, steps, plan);
    processes++;
    let killedAt = "";
    c.onReport((line) => {
      if (!killedAt && line.startsWith("paused ")) {
        killedAt = `${line}${plan.at ? ` (${plan.at})` : plan.write !== undefined ? ` (write ${plan.write})` : ` (byte ${plan.cut})`}`;
        killGroup(c.pid);
      }
    });
    const e = await c.exited;
    if (e.signal !== "SIGKILL") throw new Error(`run ${processes} (aim: ${phase} ${S}) ended with ${e.code}/${e.signal} before it was killed: ${e.stderr}`);
    if (!(await groupGone(c.pid))) throw new Error(`process group ${c.pid} outlived its SIGKILL`);

    await refRun;
    const seen = inspect(out, ref);
    const lastLogged = seen.logSteps.length;
    if (!killedAt.startsWith(`paused ${phase} ${S}`)) throw new Error(`run ${processes}: killed at '${killedAt}', aimed at ${phase} ${S}`);
    const want = phase === "checkpoint" ? S : S - 1; // the log line of a step is written before its checkpoint
    if (lastLogged !== want) throw new Error(`kill in ${phase} ${S}: the log's whole lines end at step ${lastLogged}, expected ${want}`);
    if (phase === "log" && !seen.torn) throw new Error(`log kill at step ${S} left no torn line`);
    if (phase === "checkpoint" && seen.temps === 0) throw new Error(`checkpoint kill at step ${S} left no partial temporary file`);
    if (phase === "checkpoint" && seen.steps.includes(S)) throw new Error(`checkpoint ${S} appeared although its write was killed`);
    const landed = phase;
    resumeFrom = seen.steps.length ? seen.steps[seen.steps.length - 1]! : 0;
    const rec: KillRecord = { phase, step: S, landed, resumeFrom, checkpointsOnDisk: seen.steps.length, tempFilesLeft: seen.temps, tornLogLine: seen.torn };
    kills.push(rec);
    say(`kill ${kills.length}/${o.kills}: ${killedAt} → landed in ${landed}; ${seen.steps.length} checkpoints readable and identical to the reference, ${seen.temps} temp file(s), log whole lines 1..${lastLogged}${seen.torn ? " + a torn line" : ""}; resumes from ${resumeFrom}`);
  }

  // the last run finishes
  const f = startTrain(inputs, out, steps);
  processes++;
  const fe = await f.exited;
  if (fe.code !== 0) throw new Error(`the final resumed run failed (${fe.code}/${fe.signal}): ${fe.stderr}`);
  const fin = inspect(out, ref);
  if (fin.steps[fin.steps.length - 1] !== steps) throw new Error(`the final run did not reach step ${steps}`);
  assertSameTensors(checkpointPath(out, steps), checkpointPath(ref, steps));
  if (fin.temps) throw new Error(`${fin.temps} temporary file(s) left in ${out}/checkpoints`);
  if (existsSync(join(out, "train.lock"))) throw new Error("the run lock was left behind");
  const refLog = await refRun;
  const log = readLog(join(out, "log.jsonl"));
  if (log.torn) throw new Error("the final log ends in a torn line");
  if (log.records.length !== steps) throw new Error(`the final log has ${log.records.length} lines, expected ${steps}`);
  log.records.forEach((rec, i) => {
    for (const k of DETERMINISTIC) if (rec[k] !== refLog.records[i]![k]) throw new Error(`log line ${i + 1}: ${k} ${rec[k]} differs from the uninterrupted run's ${refLog.records[i]![k]}`);
  });
  say(`final: step ${steps} bit-identical to the uninterrupted run (model, EMA, Adam moments and step); log ${steps} lines, each step once, same losses; no temp file, no lock`);
  const landed: Record<string, number> = { step: 0, checkpoint: 0, log: 0 };
  for (const k of kills) landed[k.landed]!++;
  return { kills, landed, steps, processes, wallSeconds: (performance.now() - t0) / 1000 };
}
