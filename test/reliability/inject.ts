/**
 * Test-only fault injection, loaded into a `dit train` child with
 * `node --import tsx --import ./test/reliability/inject.ts bin/dit.mjs train …`
 * (no hook lives in the production code). It patches node:fs and calls
 * `syncBuiltinESMExports()`, so the project's ESM named imports see the patch.
 *
 * `DIT_INJECT` (JSON, an `InjectPlan`) says what to do:
 * - `{ "pause": "checkpoint", "step": S, "write": j }`: in the write of
 *   checkpoint S, the j-th `writeSync` to its temporary file writes only half
 *   its bytes, then the process reports and blocks (to be SIGKILLed there);
 * - `{ "pause": "step", "step": S, "at": "compute" | "result" }`: inside
 *   step S (the first ONNX Runtime run after the log line of step S−1), it
 *   blocks as the compute starts, or once its result is in but before the
 *   step stores it (onnxruntime's `InferenceSession.prototype.run` patched);
 * - `{ "pause": "log", "step": S, "cut": k }`: the log line of step S is
 *   written only up to byte k (< its length: a torn line), then it blocks;
 * - `{ "enospc": "checkpoint", "step": S }`: the write of checkpoint S fails
 *   with ENOSPC after part of it was written, as a full disk does;
 * - `{ "rss": k }`: after every k-th ONNX Runtime run (a sampler or training
 *   step), report `rss RUNS BYTES` (the memory soak, bench/soak.ts).
 *
 * Reports go to the file descriptor `DIT_INJECT_FD` (a pipe to the parent),
 * one per line: `log S` after each whole log line, `paused step S` /
 * `paused checkpoint S` / `paused log S` when it blocks.
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

export interface InjectPlan {
  pause?: "step" | "checkpoint" | "log";
  enospc?: "checkpoint";
  step?: number;
  /** For a checkpoint pause: which writeSync (0-based) to the temporary file is cut short. */
  write?: number;
  /** For a log pause: bytes of the line that reach the file. */
  cut?: number;
  /** For a step pause: as the compute starts, or with its result in hand. */
  at?: "compute" | "result";
  /** Report the resident set size every this many ONNX Runtime runs. */
  rss?: number;
}

const plan: InjectPlan = process.env.DIT_INJECT ? (JSON.parse(process.env.DIT_INJECT) as InjectPlan) : {};
const reportFd = process.env.DIT_INJECT_FD ? Number(process.env.DIT_INJECT_FD) : undefined;
const real = { openSync: fs.openSync, writeSync: fs.writeSync, closeSync: fs.closeSync, appendFileSync: fs.appendFileSync };
/** Temporary files of checkpoint writes: fd → { step, writes so far }. */
const ckptFds = new Map<number, { step: number; writes: number }>();
const CKPT_TMP = /checkpoints[\\/]\.?(\d{7,})\.safetensors\.\d+\.tmp$/;

function report(msg: string): void {
  if (reportFd !== undefined) real.writeSync(reportFd, `${msg}\n`);
}

/** Block this process (synchronously: nothing else runs) until the parent kills it. */
function block(what: string): never {
  report(`paused ${what}`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
  process.stderr.write(`inject: nobody killed the process paused in ${what}\n`);
  process.exit(97);
}

const patched = fs as unknown as Record<string, unknown>;

patched.openSync = (path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode): number => {
  const fd = real.openSync(path, flags as fs.OpenMode, mode);
  const m = CKPT_TMP.exec(String(path));
  if (m) ckptFds.set(fd, { step: Number(m[1]), writes: 0 });
  return fd;
};

patched.closeSync = (fd: number): void => {
  ckptFds.delete(fd);
  real.closeSync(fd);
};

patched.writeSync = (fd: number, buffer: NodeJS.ArrayBufferView | string, ...rest: unknown[]): number => {
  const w = ckptFds.get(fd);
  if (w && w.step === plan.step && typeof buffer !== "string") {
    const k = w.writes++;
    if (plan.enospc === "checkpoint" && k === 1) {
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { errno: -28, code: "ENOSPC", syscall: "write" });
    }
    if (plan.pause === "checkpoint" && k === (plan.write ?? 0)) {
      const [offset, length, position] = rest as [number | undefined, number | undefined, number | null | undefined];
      const len = length ?? buffer.byteLength - (offset ?? 0);
      real.writeSync(fd, buffer, offset ?? 0, Math.max(1, Math.floor(len / 2)), position);
      block(`checkpoint ${w.step}`);
    }
  }
  return (real.writeSync as (...a: unknown[]) => number)(fd, buffer, ...rest);
};

patched.appendFileSync = (path: fs.PathOrFileDescriptor, data: string | Uint8Array, options?: fs.WriteFileOptions): void => {
  const isLog = typeof path === "string" && path.endsWith("log.jsonl");
  const step = isLog ? Number(/"step":(\d+)/.exec(String(data))?.[1]) : NaN;
  if (isLog && plan.pause === "log" && step === plan.step) {
    const text = String(data);
    real.appendFileSync(path, text.slice(0, Math.min(plan.cut ?? 1, text.length - 1)), options);
    block(`log ${step}`);
  }
  real.appendFileSync(path, data, options);
  if (isLog) report(`log ${step}`);
  if (isLog && plan.pause === "step" && step === plan.step! - 1) stepArmed = true;
};

/** Set once the log line of step S−1 is written: the next ONNX Runtime run is step S's. */
let stepArmed = plan.pause === "step" && plan.step === 1;
let runs = 0;
if (plan.pause === "step" || plan.rss) {
  const ort = (await import("onnxruntime-node")) as unknown as { InferenceSession: { prototype: { run: (...a: unknown[]) => Promise<unknown> } } };
  const proto = ort.InferenceSession.prototype;
  const run = proto.run;
  proto.run = function (this: unknown, ...args: unknown[]) {
    if (plan.rss) {
      return run.apply(this, args).then((r) => {
        if (++runs % plan.rss! === 0) report(`rss ${runs} ${process.memoryUsage.rss()}`);
        return r;
      });
    }
    if (!stepArmed) return run.apply(this, args);
    stepArmed = false;
    if (plan.at !== "result") block(`step ${plan.step}`);
    return run.apply(this, args).then(() => block(`step ${plan.step}`));
  };
}

syncBuiltinESMExports();
