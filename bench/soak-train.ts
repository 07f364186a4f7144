/**
 * `npm run soak:train`: a small `dit train` SIGKILLed (the whole process group)
 * at 20 seeded moments — mid-step, mid-checkpoint-write, mid-log-line — and
 * resumed each time; see test/reliability/kill-soak.ts for what is checked.
 * Options: --kills N (20), --seed S (1), --keep (keep the work folder).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runKillSoak } from "../test/reliability/kill-soak.js";

const { values } = parseArgs({ options: { kills: { type: "string", default: "20" }, seed: { type: "string", default: "1" }, keep: { type: "boolean", default: false } } });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130)); // the soak's children are killed on exit
const dir = mkdtempSync(join(tmpdir(), "dit-soak-train-"));
try {
  const r = await runKillSoak({ dir, kills: Number(values.kills), seed: Number(values.seed), onEvent: (l) => console.log(l) });
  console.log(`\nsoak:train: ${r.kills.length} kills survived over ${r.steps} steps, ${r.processes} processes, ${r.wallSeconds.toFixed(0)} s`);
  console.log(`landed: ${Object.entries(r.landed).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log("final parameters (model, EMA, Adam moments) bit-identical to the uninterrupted run; every checkpoint readable at every kill; log without torn or duplicated lines");
} catch (e) {
  console.error(`soak:train FAILED: ${e instanceof Error ? e.message : String(e)}\n(work folder kept: ${dir})`);
  process.exitCode = 1;
} finally {
  if (!values.keep && !process.exitCode) rmSync(dir, { recursive: true, force: true });
  else if (values.keep) console.log(`work folder: ${dir}`);
}
