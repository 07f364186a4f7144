/**
 * A full disk while a checkpoint is written. ENOSPC is injected at the
 * checkpoint's write (node:fs patched, `syncBuiltinESMExports` so ESM named
 * imports see it; no hook in the production code), after part of the file
 * was written. Expected: a one-line error naming the checkpoint and "no
 * space left on device", the previous checkpoint intact and loadable, no
 * temporary file, and a resumed run that ends bit-identical to an
 * uninterrupted one. Once in-process (the library) and once through
 * `dit train` in a child process (what a user sees).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { encodeIdxLabels } from "../../src/data/index.js";
import { encodeIdxImages } from "../../src/io/datasets.js";
import { checkpointPath, CheckpointError, latestCheckpoint, loadCheckpoint } from "../../src/train/checkpoint.js";
import { train } from "../../src/train/train.js";
import { setupJax } from "../helpers.js";
import { TINY, tinyData } from "../train/tiny.js";
import { assertSameTensors, readLog } from "./kill-soak.js";

const tmp = () => mkdtempSync(join(tmpdir(), "dit-enospc-"));
const base = { config: TINY, batchSize: 4, logEvery: 1, seed: 3, ckptEvery: 2 };
const ROOT = resolve(import.meta.dirname, "..", "..");

/** Make the second write to a temporary file of the checkpoint of `step` fail with ENOSPC, until the returned function is called. */
function fullDiskAt(step: number): () => void {
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = { openSync: f.openSync!, writeSync: f.writeSync! };
  const fds = new Map<number, number>();
  const name = `${String(step).padStart(7, "0")}.safetensors.`;
  f.openSync = (...a: unknown[]) => {
    const fd = real.openSync(...a) as number;
    if (String(a[0]).includes(name) && String(a[0]).endsWith(".tmp")) fds.set(fd, 0);
    return fd;
  };
  f.writeSync = (...a: unknown[]) => {
    const n = fds.get(a[0] as number);
    if (n !== undefined) {
      fds.set(a[0] as number, n + 1);
      if (n === 1) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { errno: -28, code: "ENOSPC", syscall: "write" });
    }
    return real.writeSync(...a);
  };
  syncBuiltinESMExports();
  return () => {
    Object.assign(f, real);
    syncBuiltinESMExports();
  };
}

describe("a full disk while a checkpoint is written", () => {
  before(setupJax);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("train(): a one-line CheckpointError naming the file and ENOSPC; step 2 intact; no temp file; the resumed run is bit-identical", async () => {
    const whole = tmp();
    const dir = tmp();
    dirs.push(whole, dir);
    await train({ ...base, data: tinyData(), out: whole, steps: 6 });
    await train({ ...base, data: tinyData(), out: dir, steps: 2 });
    const good = readFileSync(checkpointPath(dir, 2));
    const restore = fullDiskAt(4);
    let err: unknown;
    try {
      await train({ ...base, data: tinyData(), out: dir, steps: 6, resume: true });
    } catch (e) {
      err = e;
    } finally {
      restore();
    }
    assert.ok(err instanceof CheckpointError, `expected a CheckpointError, got ${String(err)}`);
    const msg = (err as Error).message;
    assert.ok(!msg.includes("\n"), `one line: ${msg}`);
    assert.ok(msg.includes(checkpointPath(dir, 4)), `names the checkpoint: ${msg}`);
    assert.match(msg, /no space left on device \(ENOSPC\)/);
    assert.ok(msg.includes(checkpointPath(dir, 2)), `names the intact previous checkpoint: ${msg}`);
    assert.deepEqual(readdirSync(join(dir, "checkpoints")), ["0000002.safetensors"], "no temporary file, no partial checkpoint 4");
    assert.ok(readFileSync(checkpointPath(dir, 2)).equals(good), "checkpoint 2 unchanged");
    assert.equal(loadCheckpoint(checkpointPath(dir, 2)).state.step, 2);
    assert.ok(!fs.existsSync(join(dir, "train.lock")), "the lock is released");
    const r = await train({ ...base, data: tinyData(), out: dir, steps: 6, resume: true });
    assert.equal(r.step, 6);
    assertSameTensors(checkpointPath(dir, 6), checkpointPath(whole, 6));
    assert.deepEqual(readLog(join(dir, "log.jsonl")).steps, [1, 2, 3, 4, 5, 6], "the log holds each step once");
  });

  it("dit train: exit 1 and one stderr line 'dit: …0000004.safetensors: … no space left on device …', no stack, checkpoint 2 alone on disk", () => {
    const dir = tmp();
    dirs.push(dir);
    const data = join(dir, "data");
    mkdirSync(data);
    writeFileSync(join(data, "train-images-idx3-ubyte"), encodeIdxImages(Uint8Array.from({ length: 12 * 64 }, (_, k) => (k * 37) % 256), 12, 8, 8));
    writeFileSync(join(data, "train-labels-idx1-ubyte"), encodeIdxLabels(Array.from({ length: 12 }, (_, i) => i % 10)));
    const config = join(dir, "tiny.json");
    writeFileSync(config, JSON.stringify({ input_size: 8, patch_size: 4, in_channels: 1, hidden_size: 16, depth: 1, num_heads: 2, mlp_ratio: 2, class_dropout_prob: 0.1, num_classes: 10, learn_sigma: true }));
    const out = join(dir, "run");
    const run = (inject: object) =>
      spawnSync(process.execPath, ["--import", "tsx", "--import", join(ROOT, "test", "reliability", "inject.ts"), join(ROOT, "bin", "dit.mjs"), "train", "--data", data, "--vae", "none", "--image-size", "8", "--config", config, "--out", out, "--steps", "4", "--batch-size", "4", "--ckpt-every", "2", "--resume"], {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, DIT_INJECT: JSON.stringify(inject), DIT_DEBUG: "" },
      });
    const r = run({ enospc: "checkpoint", step: 4 });
    assert.equal(r.status, 1, r.stderr);
    const errLines = r.stderr.split("\n").filter((l) => l.startsWith("dit:") || /^\s+at /.test(l));
    assert.equal(errLines.length, 1, `one error line, no stack: ${r.stderr}`);
    assert.match(errLines[0]!, /^dit: .*0000004\.safetensors: could not write the checkpoint: no space left on device \(ENOSPC\); the previous checkpoint .*0000002\.safetensors is intact/);
    assert.deepEqual(readdirSync(join(out, "checkpoints")), ["0000002.safetensors"]);
    assert.equal(latestCheckpoint(out), checkpointPath(out, 2));
    assert.equal(loadCheckpoint(checkpointPath(out, 2)).state.step, 2);
  });
});
