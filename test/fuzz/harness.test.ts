/** The fuzz harness classifies each kind of outcome (a fake target acts them out; see selftest/behaviours.ts). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { makeCase, runTarget } from "./harness.js";
import target, { BEHAVIOURS } from "./selftest/behaviours.js";
import safetensors from "./targets/safetensors.js";

const file = fileURLToPath(new URL("./selftest/behaviours.ts", import.meta.url));

test("each behaviour gets the right verdict (unmutated seeds must load; everything else is a failure with its reason)", async () => {
  const quick = BEHAVIOURS.filter((b) => b !== "js-heap");
  const r = await runTarget({ file, target: { ...target, seeds: () => quick.map((b) => ({ name: b, bytes: new TextEncoder().encode(b) })) } }, { cases: quick.length, seed: 1, watchdogMs: 3000 });
  assert.equal(r.cases, quick.length);
  assert.equal(r.loads, 1);
  const why = new Map(r.failures.map((f) => [quick[f.index]!, f.message]));
  assert.deepEqual([...why.keys()].sort(), quick.filter((b) => b !== "ok").sort());
  assert.match(why.get("dit-error")!, /an unmutated seed did not load: .*case-1\.txt: bad/);
  assert.match(why.get("dit-error-without-path")!, /a DitError that does not name the file/);
  assert.match(why.get("type-error")!, /TypeError/);
  assert.match(why.get("hang")!, /hang: no answer within 3 s/);
  assert.match(why.get("big-typed-array")!, /allocation larger than the file justifies: asked for Float32Array of 1073741824 bytes/);
  assert.match(why.get("big-buffer")!, /allocation larger than the file justifies: asked for Buffer\.alloc of 134217728 bytes/);
  assert.match(why.get("retained-buffer")!, /arrayBuffers grew by \d+ bytes/);
  assert.match(why.get("worker-exit")!, /worker exited with code 3/);
  for (const f of r.failures) assert.equal(f.reproduce, `npm run fuzz -- --format selftest --seed 1 --case ${f.index}`);
});

test("a runaway JS heap ends the worker, a failure (and the next case gets a fresh worker)", async () => {
  const seeds = () => ["js-heap", "ok"].map((b) => ({ name: b, bytes: new TextEncoder().encode(b) }));
  const r = await runTarget({ file, target: { ...target, seeds } }, { cases: 2, seed: 1, maxHeapMb: 48, watchdogMs: 30_000 });
  assert.equal(r.loads, 1);
  assert.equal(r.failures.length, 1);
  assert.match(r.failures[0]!.message, /worker crashed: .*ERR_WORKER_OUT_OF_MEMORY/);
});

test("a case is a pure function of (format, seed, index)", async () => {
  const seeds = await safetensors.seeds();
  for (const i of [0, 5, 17, 123]) {
    const a = makeCase(safetensors, seeds, 7, i);
    const b = makeCase(safetensors, seeds, 7, i);
    assert.equal(a.what, b.what);
    assert.deepEqual(a.bytes, b.bytes);
  }
  assert.notDeepEqual(makeCase(safetensors, seeds, 7, 50).bytes, makeCase(safetensors, seeds, 8, 50).bytes);
});
