/**
 * The log repair a resumed run does (`truncateLog`): whole lines of steps up
 * to the checkpoint, in order, once each; a torn last line, garbage,
 * duplicates and lines after the checkpoint dropped; the file replaced
 * atomically and left alone when already whole.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { truncateLog } from "../../src/train/train.js";

const line = (step: number, loss = 1) => JSON.stringify({ step, loss }) + "\n";

describe("truncateLog (the log a resumed run continues)", () => {
  it("drops a torn last line, lines after the checkpoint, garbage and repeated steps", () => {
    const dir = mkdtempSync(join(tmpdir(), "dit-log-"));
    const p = join(dir, "log.jsonl");
    writeFileSync(p, line(1) + line(2) + "{\"step\":3,\"lo\n" + line(2, 9) + line(3) + line(4) + line(5) + '{"step":6,"loss":1}');
    truncateLog(p, 4);
    assert.equal(readFileSync(p, "utf8"), line(1) + line(2) + line(3) + line(4));
    assert.deepEqual(readdirSync(dir), ["log.jsonl"], "no temporary file left");
  });

  it("drops a last line without its newline even when it parses (the write was cut before the newline)", () => {
    const p = join(mkdtempSync(join(tmpdir(), "dit-log-")), "log.jsonl");
    writeFileSync(p, line(1) + line(2).trimEnd());
    truncateLog(p, 10);
    assert.equal(readFileSync(p, "utf8"), line(1));
  });

  it("leaves a whole log untouched (no rewrite), and a missing log missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "dit-log-"));
    const p = join(dir, "log.jsonl");
    writeFileSync(p, line(1) + line(2));
    const before = statSync(p);
    truncateLog(p, 2);
    assert.equal(statSync(p).ino, before.ino, "same file: not rewritten");
    truncateLog(join(dir, "none.jsonl"), 3);
    assert.deepEqual(readdirSync(dir), ["log.jsonl"]);
  });
});
