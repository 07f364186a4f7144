/**
 * Local scale-out (`dit sample --workers k`): k child processes, shards
 * 0..k−1 of k, each in its own process group, waited for together. A failure
 * in one is reported once all have ended (the others' images are kept, so
 * a rerun only makes what is missing); SIGINT/SIGTERM to the parent kills
 * every child's whole process group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { SampleError } from "./errors.js";

export interface WorkerOptions {
  /** Number of workers k ≥ 1. */
  count: number;
  /** The program to run (default: this Node). */
  command?: string;
  /** Arguments of worker i (which should make shard i of count). */
  args: (index: number) => string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each line worker i writes to stdout or stderr (default: to this process's stderr, prefixed "[shard i/k] "). */
  onLine?: (index: number, line: string) => void;
}

export interface WorkerExit {
  index: number;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Kill a child's whole process group (it leads one: spawned detached). */
function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Split a stream into lines for `onLine`. */
function lines(stream: NodeJS.ReadableStream | null, emit: (line: string) => void): void {
  if (!stream) return;
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split(/\r?\n|\r/);
    rest = parts.pop()!;
    for (const l of parts) if (l.trim() !== "") emit(l);
  });
  stream.on("end", () => {
    if (rest.trim() !== "") emit(rest);
  });
}

/**
 * Run `count` workers and wait for all of them. Resolves with every exit
 * when all succeeded; rejects with a SampleError naming each failed worker
 * (exit code or signal) otherwise. While they run, SIGINT and SIGTERM kill
 * every worker's process group, then the parent exits (130 / 143).
 */
export async function runShardWorkers(opts: WorkerOptions): Promise<WorkerExit[]> {
  const k = opts.count;
  if (!Number.isInteger(k) || k < 1) throw new SampleError(`--workers must be a positive integer, got ${k}`);
  const onLine = opts.onLine ?? ((i: number, l: string) => process.stderr.write(`[shard ${i}/${k}] ${l}\n`));
  const children: ChildProcess[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    for (const c of children) killGroup(c, "SIGKILL");
    process.stderr.write(`\n${signal}: stopped ${children.length} workers; the images they finished are kept, and the same command resumes\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const exits = await Promise.all(
      Array.from({ length: k }, (_, i) => {
        // detached: each worker leads its own process group, so killing the group takes its children too
        const p = spawn(opts.command ?? process.execPath, opts.args(i), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
        children.push(p);
        lines(p.stdout, (l) => onLine(i, l));
        lines(p.stderr, (l) => onLine(i, l));
        return new Promise<WorkerExit>((res) => {
          p.on("error", (e) => {
            onLine(i, `could not start: ${e.message}`);
            res({ index: i, code: -1, signal: null });
          });
          p.on("close", (code, signal) => res({ index: i, code, signal }));
        });
      }),
    );
    const failed = exits.filter((e) => e.code !== 0);
    if (failed.length > 0) {
      const how = (e: WorkerExit) => `shard ${e.index}/${k} ${e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`}`;
      throw new SampleError(`${failed.length} of ${k} workers failed: ${failed.map(how).join("; ")}. The images made are kept: run the same command again to make the rest`);
    }
    return exits;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const c of children) killGroup(c, "SIGKILL");
  }
}
