/**
 * `npm run fuzz`: the full fuzz run over every format in test/fuzz/targets (see harness.ts).
 *
 *   npm run fuzz -- [--cases 1000] [--seed S] [--format F] [--case i [--save FILE]] [--jobs 2] [--json out.json]
 *
 * Prints progress and a table (format, cases, loads, clean errors, failures), every failure with
 * the command that replays it, and exits 1 on any failure.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatFailure, formatTable, loadTargets, makeCase, runTarget, type FormatReport } from "./harness.js";

const HELP = `usage: npm run fuzz -- [options]

  --cases N     cases per format (default 1000)
  --seed S      the run's seed (default 1)
  --format F    only this format (a target's format name or file name)
  --case I      only case I (replays a reported failure; needs --format): prints its mutation
  --save PATH   with --case: also write the mutant file to PATH
  --jobs J      formats run at once (default 2)
  --json PATH   also write the reports as JSON
  -h, --help    this text`;

function intArg(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`fuzz: --${name} must be an integer ≥ ${min}, got '${v}'`);
    process.exit(2);
  }
  return n;
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      cases: { type: "string" },
      seed: { type: "string" },
      format: { type: "string" },
      case: { type: "string" },
      jobs: { type: "string" },
      json: { type: "string" },
      save: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (e) {
  console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}\n${HELP}`);
  process.exit(2);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const cases = intArg("cases", values.cases, 1000, 1);
const seed = intArg("seed", values.seed, 1, 0);
const only = values.case === undefined ? undefined : intArg("case", values.case, 0, 0);
const jobs = intArg("jobs", values.jobs, 2, 1);
if (only !== undefined && !values.format) {
  console.error("fuzz: --case needs --format");
  process.exit(2);
}

const targets = await loadTargets(values.format);
if (targets.length === 0) {
  console.error(`fuzz: no target${values.format ? ` for format '${values.format}'` : "s"} in test/fuzz/targets`);
  process.exit(2);
}
console.log(`fuzz: ${targets.length} format(s), ${only !== undefined ? `case ${only}` : `${cases} cases each`}, seed ${seed}`);

if (only !== undefined) {
  const t = targets[0]!.target;
  const m = makeCase(t, await t.seeds(), seed, only);
  console.log(`case ${only}: ${m.what} (${m.bytes.length} bytes)`);
  if (values.save) {
    writeFileSync(values.save, m.bytes);
    console.log(`wrote it to ${values.save}`);
  }
}

const t0 = performance.now();
const reports: FormatReport[] = new Array(targets.length);
let next = 0;
let lastProgress = 0;
const progress = new Map<string, string>();
async function lane(): Promise<void> {
  while (next < targets.length) {
    const i = next++;
    const mod = targets[i]!;
    try {
      reports[i] = await runTarget(mod, {
        cases,
        seed,
        only,
        onCase(done, total, r) {
          progress.set(r.format, `${r.format} ${done}/${total}${r.failures.length ? ` (${r.failures.length} failing)` : ""}`);
          const now = performance.now();
          if (now - lastProgress > 5000) {
            lastProgress = now;
            console.log(`  [${((now - t0) / 1000).toFixed(0)} s] ${[...progress.values()].join(", ")}`);
          }
        },
      });
    } catch (e) {
      const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
      reports[i] = { format: mod.target.format, cases: 0, loads: 0, clean: 0, ms: 0, failures: [{ format: mod.target.format, seed, index: -1, what: "the target itself", message, reproduce: `npm run fuzz -- --format ${mod.target.format}` }] };
    }
    progress.delete(mod.target.format);
    const r = reports[i]!;
    console.log(`  done ${r.format}: ${r.cases} cases, ${r.loads} loads, ${r.clean} clean errors, ${r.failures.length} failures (${(r.ms / 1000).toFixed(1)} s)`);
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, targets.length) }, lane));

const failures = reports.flatMap((r) => r.failures);
for (const f of failures) console.log(formatFailure(f));
console.log(`\n${formatTable(reports)}\n\ntotal ${((performance.now() - t0) / 1000).toFixed(1)} s, ${failures.length} failure(s)`);
if (values.json) writeFileSync(values.json, JSON.stringify({ seed, cases, reports }, null, 2));
process.exit(failures.length ? 1 : 0);
