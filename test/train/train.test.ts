/**
 * The training loop on a tiny DiT: bit-for-bit reproducibility, exact resume
 * (in process, and after a real SIGKILL of a real process), gradient
 * accumulation, NaN handling that keeps the last good checkpoint, the
 * run-folder lock, and checkpoint round trips.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { checkpointPath, latestCheckpoint, loadCheckpoint, CheckpointError } from "../../src/train/checkpoint.js";
import { acquireRunLock, RunLockedError } from "../../src/train/lock.js";
import { imageArrayData } from "../../src/train/data.js";
import { NonFiniteLossError, train } from "../../src/train/train.js";
import { trainCheckpointToOfficial } from "../../src/io/official-checkpoint.js";
import { initParams } from "../../src/model/params.js";
import { loadResumeSource } from "../../src/train/resume-source.js";
import { relErr, setupJax } from "../helpers.js";
import { checkpointTensors } from "../reliability/kill-soak.js";
import { TINY, tinyData } from "./tiny.js";

const tmp = () => mkdtempSync(join(tmpdir(), "dit-train-"));
const base = { config: TINY, batchSize: 4, logEvery: 1, seed: 3 };

function assertSameState(a: string, b: string): void {
  const ta = checkpointTensors(a);
  const tb = checkpointTensors(b);
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  for (const [k, v] of ta) assert.ok(v.equals(tb.get(k)!), `tensor ${k} differs between ${a} and ${b}`);
}

describe("train (tiny DiT)", () => {
  before(setupJax);
  let reference: string;
  const refDir = tmp();

  it("learns: the loss after 30 steps is below the first steps' loss, and the log has every field", async () => {
    const r = await train({ ...base, data: tinyData(), out: refDir, steps: 30, ckptEvery: 10, lr: 3e-3, emaWarmup: true });
    assert.equal(r.step, 30);
    const lines = readFileSync(join(refDir, "log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(lines.length, 30);
    for (const k of ["step", "loss", "mse", "vb", "grad_norm", "lr", "img_per_s", "wall_s"]) assert.ok(Number.isFinite(lines[0]![k]), `log lacks ${k}`);
    const first = (lines[0]!.loss! + lines[1]!.loss! + lines[2]!.loss!) / 3;
    const lastL = (lines[27]!.loss! + lines[28]!.loss! + lines[29]!.loss!) / 3;
    assert.ok(lastL < first, `loss did not fall: ${first} → ${lastL}`);
    assert.deepEqual(readdirSync(join(refDir, "checkpoints")).sort(), ["0000010.safetensors", "0000020.safetensors", "0000030.safetensors"]);
    reference = checkpointPath(refDir, 30);
  });

  it("is reproducible bit for bit: the same seed and data give the same checkpoint tensors", async () => {
    const dir = tmp();
    await train({ ...base, data: tinyData(), out: dir, steps: 30, ckptEvery: 30, lr: 3e-3, emaWarmup: true });
    assertSameState(checkpointPath(dir, 30), reference);
  });

  it("resumes exactly: 10 steps, then --resume to 30, equals an uninterrupted run", async () => {
    const dir = tmp();
    await train({ ...base, data: tinyData(), out: dir, steps: 10, ckptEvery: 10, lr: 3e-3, emaWarmup: true });
    const r = await train({ ...base, data: tinyData(), out: dir, steps: 30, ckptEvery: 10, lr: 3e-3, emaWarmup: true, resume: true });
    assert.equal(r.step, 30);
    assertSameState(checkpointPath(dir, 30), reference);
    const steps = readFileSync(join(dir, "log.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1), "the log holds each step once");
  });

  it("--resume-from an official train.py .pt (converted from step 10) continues to the same step-30 state", async () => {
    const dir = tmp();
    const pt = join(dir, "0000010.pt");
    trainCheckpointToOfficial(checkpointPath(refDir, 10), pt);
    const from = loadResumeSource(pt);
    assert.equal(from.state.step, 10);
    assert.equal(from.config.hiddenSize, TINY.hiddenSize);
    const r = await train({ ...base, data: tinyData(), out: join(dir, "run"), steps: 30, ckptEvery: 30, lr: 3e-3, emaWarmup: true, resumeFrom: from });
    assert.equal(r.step, 30);
    assertSameState(checkpointPath(join(dir, "run"), 30), reference);
  });

  it("fine-tunes from other weights onto a different number of classes (shared label rows and the null class kept)", async () => {
    const src = loadCheckpoint(reference).state.ema;
    const five = { ...TINY, numClasses: 5 };
    const dir = tmp();
    const five5 = imageArrayData(new Float32Array(10 * 32), [10, 2, 4, 4], Int32Array.from({ length: 10 }, (_, i) => i % 5), 5, "five classes");
    const r = await train({ ...base, config: five, data: five5, out: dir, steps: 1, ckptEvery: 1, init: src });
    const table = r.state.model.get("y_embedder.embedding_table.weight")!;
    assert.deepEqual(table.shape, [6, 16]);
    const old = src.get("y_embedder.embedding_table.weight")!.data as Float32Array;
    const init = loadCheckpoint(checkpointPath(dir, 1)).state; // after one step, rows moved by at most ~lr
    const got = init.model.get("y_embedder.embedding_table.weight")!.data as Float32Array;
    for (let j = 0; j < 3 * 16; j++) assert.ok(Math.abs(got[j]! - old[j]!) < 1e-3, "class rows 0..2 come from the source");
    for (let j = 0; j < 16; j++) assert.ok(Math.abs(got[5 * 16 + j]! - old[3 * 16 + j]!) < 1e-3, "the null row comes from the source's null row");
  });

  it("trains unconditional models (no label embedder) and reads labels of the data without using them", async () => {
    const dir = tmp();
    const r = await train({ ...base, config: { ...TINY, numClasses: 0 }, data: tinyData(), out: dir, steps: 2, ckptEvery: 2 });
    assert.equal(r.step, 2);
    assert.ok(!r.state.model.has("y_embedder.embedding_table.weight"));
  });

  it("refuses data whose samples do not fit the model, before any step", async () => {
    await assert.rejects(train({ ...base, config: { ...TINY, inputSize: 8 }, data: tinyData(), out: tmp(), steps: 1 }), /the data gives samples of 2×4×4, the model takes 2×8×8/);
  });

  it("--resume on a folder without checkpoints starts at step 0", async () => {
    const dir = tmp();
    const r = await train({ ...base, data: tinyData(), out: dir, steps: 2, ckptEvery: 2, resume: true });
    assert.equal(r.step, 2);
    assert.equal(latestCheckpoint(dir), checkpointPath(dir, 2));
  });

  it("a SIGKILLed process resumes to parameters bit-identical to an uninterrupted run", async () => {
    const whole = tmp();
    const killed = tmp();
    const child = (out: string, resume: boolean) => ["--import", "tsx", join("test", "train", "child.ts"), out, "12", ...(resume ? ["--resume"] : [])];
    const r1 = spawnSync(process.execPath, child(whole, false), { encoding: "utf8" });
    assert.equal(r1.status, 0, r1.stderr);
    // Kill the second run mid-way, after its checkpoint of step 4 and before it ends.
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, child(killed, false), { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      p.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (/step 5\n/.test(out) && !p.killed) p.kill("SIGKILL");
      });
      p.on("exit", (code, sig) => (sig === "SIGKILL" ? resolve() : reject(new Error(`child ended with ${code}/${sig} before it was killed: ${out}`))));
    });
    assert.ok(existsSync(join(killed, "train.lock")), "the killed process leaves its lock behind");
    assert.ok(!existsSync(checkpointPath(killed, 12)));
    const r2 = spawnSync(process.execPath, child(killed, true), { encoding: "utf8" });
    assert.equal(r2.status, 0, r2.stderr);
    assertSameState(checkpointPath(killed, 12), checkpointPath(whole, 12));
    assert.ok(!readdirSync(join(killed, "checkpoints")).some((f) => f.endsWith(".tmp")), "no temporary file is left");
  });

  it("gradient accumulation: 2 micro-batches of 2 give the updates of one batch of 4, up to float32 rounding", async () => {
    const acc = tmp();
    await train({ ...base, data: tinyData(), out: acc, steps: 3, ckptEvery: 3, gradAccum: 2 });
    const one = tmp();
    await train({ ...base, data: tinyData(), out: one, steps: 3, ckptEvery: 3 });
    const init = initParams(TINY, base.seed);
    const a = loadCheckpoint(checkpointPath(acc, 3)).state.model;
    const b = loadCheckpoint(checkpointPath(one, 3)).state.model;
    for (const [k, t] of b) {
      if (k === "pos_embed") continue;
      const i0 = init.get(k)!.data as Float32Array;
      const e = relErr(
        (a.get(k)!.data as Float32Array).map((v, i) => v - i0[i]!),
        (t.data as Float32Array).map((v, i) => v - i0[i]!),
      );
      assert.ok(e <= 1e-3, `update of ${k} differs by ${e.toExponential(2)}`);
    }
  });

  it("a NaN loss stops training, names the step, and leaves the last good checkpoint intact", async () => {
    const dir = tmp();
    await train({ ...base, data: tinyData(), out: dir, steps: 2, ckptEvery: 2 });
    const good = readFileSync(checkpointPath(dir, 2));
    await assert.rejects(train({ ...base, data: tinyData(true), out: dir, steps: 4, ckptEvery: 1, resume: true }), (e: Error) => {
      assert.ok(e instanceof NonFiniteLossError);
      assert.match(e.message, /step 3/);
      assert.match(e.message, /0000002\.safetensors/);
      return true;
    });
    assert.ok(readFileSync(checkpointPath(dir, 2)).equals(good));
    assert.equal(latestCheckpoint(dir), checkpointPath(dir, 2));
  });

  it("refuses a second trainer on a folder a live process holds, and takes over a dead process's lock", () => {
    const dir = tmp();
    writeFileSync(join(dir, "train.lock"), `${process.ppid}\n`); // a live process
    assert.throws(() => acquireRunLock(dir), RunLockedError);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(join(dir, "train.lock"), `${dead.stdout}\n`);
    const release = acquireRunLock(dir);
    assert.equal(readFileSync(join(dir, "train.lock"), "utf8").trim(), String(process.pid));
    release();
    assert.ok(!existsSync(join(dir, "train.lock")));
  });

  it("Ctrl-C (an aborted signal) writes a checkpoint and stops", async () => {
    const dir = tmp();
    const ac = new AbortController();
    const r = await train({ ...base, data: tinyData(), out: dir, steps: 100, ckptEvery: 50, signal: ac.signal, onStep: (s) => s === 3 && ac.abort() });
    assert.equal(r.stopped, true);
    assert.equal(r.step, 3);
    assert.equal(latestCheckpoint(dir), checkpointPath(dir, 3));
  });

  it("checkpoints hold the whole state and reject files that are not checkpoints", () => {
    const ck = loadCheckpoint(reference);
    assert.equal(ck.state.step, 30);
    assert.equal(ck.state.adam.step, 30);
    assert.equal(ck.train.seed, 3);
    assert.equal(ck.train.data_position, 30 * 4);
    assert.equal(ck.config.hiddenSize, 16);
    const bogus = join(tmp(), "x.safetensors");
    writeFileSync(bogus, readFileSync(reference).subarray(0, 20));
    assert.throws(() => loadCheckpoint(bogus));
    rmSync(bogus);
    assert.ok(CheckpointError);
  });
});
