/**
 * The fuzz worker: one long-lived worker thread per format (test/fuzz/harness.ts starts it).
 * It imports the format's target module once, then answers `{ id, path }` messages by calling
 * `target.load(path)` and classifying the result.
 *
 * Allocation watch: before the target is imported, the typed-array constructors, `ArrayBuffer`,
 * `SharedArrayBuffer` and `Buffer.alloc*` are wrapped so that every allocation made while a case
 * loads is counted (bytes asked for, before anything is allocated). An allocation that would take
 * the case's total past its bound is refused on the spot (so a 1e12-element header never reaches
 * the allocator) and the case fails even if the loader caught the refusal. The bound is
 * `64 MiB + 16 × file size` (see `allocBound` in harness.ts). The worker also compares
 * `process.memoryUsage()` (arrayBuffers, rss) before and after each load against the same bound,
 * and runs under `resourceLimits`, so a runaway JS heap ends the worker (reported as a failure).
 */
import { parentPort, workerData } from "node:worker_threads";
import { statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { isDitError } from "../../src/errors.js";
import type { FuzzTarget } from "./target.js";

export interface WorkerRequest {
  id: number;
  path: string;
}

export interface WorkerReply {
  id: number;
  outcome: "load" | "clean" | "failure";
  /** Why a failure failed, or the clean error's message. */
  message: string;
  /** Bytes of typed arrays / buffers the load asked for. */
  allocated: number;
  /** memoryUsage() growth across the load (arrayBuffers, rss). */
  arrayBuffersGrowth: number;
  rssGrowth: number;
}

interface Data {
  targetFile: string;
  /** Fixed part of the allocation bound (bytes); the bound is fixed + perByte × file size. */
  fixed: number;
  perByte: number;
}

const data = workerData as Data;

/** Allocation accounting for the case in progress (null between cases). */
let budget: { limit: number; used: number; refused: string | null } | null = null;

class FuzzAllocationRefused extends Error {}

function charge(bytes: number, what: string): void {
  if (!budget || !(bytes > 0)) return;
  budget.used += bytes;
  if (budget.used > budget.limit && budget.refused === null) {
    budget.refused = `asked for ${what} of ${bytes} bytes (total ${budget.used} > bound ${budget.limit})`;
  }
  if (budget.refused !== null && budget.used > budget.limit) throw new FuzzAllocationRefused(`fuzz: allocation refused: ${budget.refused}`);
}

const isBuffer = (x: unknown): boolean => x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && x instanceof SharedArrayBuffer);

/** Wrap a global constructor so that allocating calls are charged first. */
function watch(name: string, bytesOf: (args: unknown[], bpe: number) => number): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const Ctor = g[name] as (new (...a: unknown[]) => unknown) & { BYTES_PER_ELEMENT?: number };
  const bpe = Ctor.BYTES_PER_ELEMENT ?? 1;
  g[name] = new Proxy(Ctor, {
    construct(target, args, newTarget) {
      charge(bytesOf(args, bpe), `${name}`);
      return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
    },
  });
}

function typedArrayBytes(args: unknown[], bpe: number): number {
  const a = args[0];
  if (typeof a === "number" || typeof a === "bigint") return Number(a) * bpe;
  if (a === undefined || a === null || isBuffer(a)) return 0;
  if (typeof a === "object" && typeof (a as { length?: unknown }).length === "number") return (a as { length: number }).length * bpe;
  return 0; // iterables: the length is unknown until iterated; counted by memoryUsage() instead
}

for (const n of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
  watch(n, typedArrayBytes);
}
watch("ArrayBuffer", (args) => Number(args[0] ?? 0));
if (typeof SharedArrayBuffer !== "undefined") watch("SharedArrayBuffer", (args) => Number(args[0] ?? 0));
for (const fn of ["alloc", "allocUnsafe", "allocUnsafeSlow"] as const) {
  const orig = Buffer[fn] as (...a: unknown[]) => Buffer;
  (Buffer as unknown as Record<string, unknown>)[fn] = function (this: unknown, ...args: unknown[]) {
    charge(Number(args[0] ?? 0), `Buffer.${fn}`);
    return orig.apply(this, args);
  };
}

const mod = (await import(pathToFileURL(data.targetFile).href)) as { default: FuzzTarget };
const target = mod.default;

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `non-Error thrown: ${String(e)}`;
}

parentPort!.on("message", (req: WorkerRequest) => {
  void handle(req).then((r) => parentPort!.postMessage(r));
});

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  const size = statSync(req.path).size;
  const limit = data.fixed + data.perByte * size;
  const before = process.memoryUsage();
  budget = { limit, used: 0, refused: null };
  let outcome: WorkerReply["outcome"];
  let message: string;
  let result: unknown;
  try {
    result = await target.load(req.path);
    outcome = "load";
    message = "";
  } catch (e) {
    if (isDitError(e)) {
      outcome = e.message.includes(req.path) ? "clean" : "failure";
      message = outcome === "clean" ? e.message : `${describe(e)} (a DitError that does not name the file)`;
    } else {
      outcome = "failure";
      message = describe(e);
    }
  }
  const b = budget;
  budget = null;
  const after = process.memoryUsage();
  void result;
  const arrayBuffersGrowth = after.arrayBuffers - before.arrayBuffers;
  const rssGrowth = after.rss - before.rss;
  if (b.refused !== null) {
    outcome = "failure";
    message = `allocation larger than the file justifies: ${b.refused}${message ? `; the load then ended with: ${message}` : ""}`;
  } else if (arrayBuffersGrowth > limit) {
    outcome = "failure";
    message = `arrayBuffers grew by ${arrayBuffersGrowth} bytes (> bound ${limit})${message ? `; ${message}` : ""}`;
  } else if (rssGrowth > limit) {
    outcome = "failure";
    message = `rss grew by ${rssGrowth} bytes (> bound ${limit})${message ? `; ${message}` : ""}`;
  }
  return { id: req.id, outcome, message, allocated: b.used, arrayBuffersGrowth, rssGrowth };
}

parentPort!.postMessage({ ready: true });
