/**
 * CI version of `npm run soak:train`: a real `dit train` process group is
 * SIGKILLed 3 times — once mid-step, once mid-checkpoint-write, once
 * mid-log-line — and resumed; the checks are those of kill-soak.ts (every
 * checkpoint readable and equal to the uninterrupted run's at every kill,
 * final parameters bit-identical, a log with each step once).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runKillSoak } from "./kill-soak.js";

describe("kill and resume (3 SIGKILLs of a dit train process group)", () => {
  it("survives a kill in each phase and ends bit-identical to an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dit-kill-"));
    try {
      const r = await runKillSoak({ dir, kills: 3, seed: 1 });
      assert.equal(r.kills.length, 3);
      assert.equal(r.landed.checkpoint, 1, "one kill mid-checkpoint-write");
      assert.equal(r.landed.log, 1, "one kill mid-log-line");
      assert.equal(r.landed.step, 1, "one kill mid-step");
      assert.ok(r.kills.some((k) => k.tornLogLine), "a torn log line was left and then repaired");
      assert.ok(r.kills.some((k) => k.tempFilesLeft > 0), "a partial checkpoint temp file was left and then removed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
