/**
 * Runs test/io/torch_interop.py under Debian's PyTorch (`/usr/bin/python3`)
 * for the cross-check tests; reports why when python or torch is absent so
 * the tests can say "skipped" with the reason.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Debian's python3 with python3-torch; DIT_TEST_PYTHON may name another interpreter. */
const PYTHON = process.env.DIT_TEST_PYTHON ?? "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./torch_interop.py", import.meta.url));

/** The script's JSON output, or null and the reason it could not run. */
export interface InteropResult {
  out: Record<string, any> | null;
  reason: string;
}

export function runTorchInterop(args: string[]): InteropResult {
  if (!existsSync(PYTHON)) return { out: null, reason: `${PYTHON} not found (the PyTorch cross-check needs Debian's python3-torch)` };
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: "1" } });
  if (r.status !== 0 && /No module named '(torch|numpy)'/.test(r.stderr)) {
    return { out: null, reason: `PyTorch is not importable by ${PYTHON} (Debian: apt-get install python3-torch)` };
  }
  if (r.status !== 0) throw new Error(`torch_interop.py ${args[0]} failed (exit ${r.status}):\n${r.stderr}`);
  return { out: JSON.parse(r.stdout) as Record<string, any>, reason: "" };
}
