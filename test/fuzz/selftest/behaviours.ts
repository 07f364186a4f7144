/**
 * A fake fuzz target for the harness's own test: each seed's bytes name a behaviour that
 * `load` acts out, so the test can check that the harness classifies each one.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { DitError } from "../../../src/errors.js";
import type { FuzzTarget } from "../target.js";

export const BEHAVIOURS = ["ok", "dit-error", "dit-error-without-path", "type-error", "hang", "big-typed-array", "big-buffer", "retained-buffer", "worker-exit", "js-heap"] as const;

const keep: unknown[] = [];

const target: FuzzTarget = {
  format: "selftest",
  ext: ".txt",
  seeds: () => BEHAVIOURS.map((b) => ({ name: b, bytes: new TextEncoder().encode(b) })),
  load(path: string) {
    const b = readFileSync(path, "utf8");
    switch (b) {
      case "ok":
        return 1;
      case "dit-error":
        throw new DitError(`${path}: bad`);
      case "dit-error-without-path":
        throw new DitError("bad");
      case "type-error":
        return (null as unknown as { x: number }).x;
      case "hang":
        for (;;);
      case "big-typed-array":
        try {
          return new Float32Array(2 ** 28).length; // 1 GiB for a 15-byte file; refused by the harness, caught here
        } catch {
          throw new DitError(`${path}: could not allocate`);
        }
      case "big-buffer":
        return Buffer.alloc(2 ** 27).length;
      case "retained-buffer": {
        // allocated where the constructor watch does not see it (Node's internal FastBuffer), kept alive: arrayBuffers grows
        const z = randomBytes(80 * 2 ** 20);
        keep.push(z);
        return z.length;
      }
      case "worker-exit":
        process.exit(3);
        break;
      case "js-heap": {
        const xs: number[][] = [];
        for (;;) xs.push(Array.from({ length: 1e5 }, (_, i) => i + 0.5)); // small steps: V8 stops the worker at its limit (one huge allocation past the limit would abort the whole process instead)
      }
    }
    return 0;
  },
};

export default target;
