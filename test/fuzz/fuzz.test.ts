/**
 * CI fuzzing: every format in test/fuzz/targets, a fixed seed and 200 cases each (the full
 * run is `npm run fuzz`). Each format is one subtest: every mutant either loads or is refused
 * with a DitError naming the file — no other throw, hang, crash or oversized allocation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatFailure, loadTargets, runTarget, type FormatReport } from "./harness.js";

const SEED = 20240614;
const CASES = 200;
/** Formats fuzzed at once: 3 workers beat 2 on 2 cores (worker start-up and file I/O overlap): 47 s vs 61 s here when there were 12 formats (npz made 13). */
const JOBS = 3;

const targets = await loadTargets();

// Start every format now, JOBS at a time; each subtest awaits its own.
const results: Promise<FormatReport>[] = [];
for (let i = 0; i < targets.length; i++) {
  const before = i >= JOBS ? results[i - JOBS]!.catch(() => undefined) : Promise.resolve();
  const p = before.then(() => runTarget(targets[i]!, { cases: CASES, seed: SEED }));
  p.catch(() => undefined); // awaited by its subtest
  results.push(p);
}

test("fuzz: every target file exports a target", () => {
  assert.ok(targets.length > 0, "no targets in test/fuzz/targets");
});

for (let i = 0; i < targets.length; i++) {
  test(targets[i]!.target.format, async (t) => {
    const r = await results[i]!;
    t.diagnostic(`${r.format}: ${r.cases} cases, ${r.loads} loads, ${r.clean} clean errors, ${r.failures.length} failures (${(r.ms / 1000).toFixed(1)} s)`);
    assert.equal(r.cases, CASES);
    assert.ok(r.failures.length === 0, `${r.failures.length} failing case(s):\n${r.failures.slice(0, 10).map(formatFailure).join("\n")}`);
  });
}
