/**
 * `npm run soak`: memory stays flat over long runs (not part of CI).
 *
 * 1. `dit sample` of the bundled Fashion-MNIST model with DDPM and 1,000
 *    sampling steps (4 images, guidance: one model call per step);
 * 2. `dit train`, 1,000 steps of a small pixel-space DiT on a synthetic IDX set
 *    (a checkpoint every 100 steps, a log line every 10).
 *
 * Each runs in a child process with test/reliability/inject.ts, which reports
 * the child's own RSS (`process.memoryUsage.rss()`) after every 10th ONNX
 * Runtime run, i.e. every 10 sampler or training steps. Warm-up is the first
 * 10 % of the steps (sessions created, caches and allocator pools filled);
 * growth = (RSS at the last step − RSS at the end of warm-up) / RSS at the
 * end of warm-up, and must be ≤ 5 %. The peak after warm-up is reported too.
 * Options: --steps N (1000), --only sample|train.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { encodeIdxLabels } from "../src/data/index.js";
import { encodeIdxImages } from "../src/io/datasets.js";

const ROOT = resolve(import.meta.dirname, "..");
const INJECT = join(ROOT, "test", "reliability", "inject.ts");
const EVERY = 10;
const LIMIT = 0.05;

interface RssRun {
  name: string;
  steps: number;
  samples: { step: number; rss: number }[];
  seconds: number;
}

function runChild(name: string, args: string[], steps: number): Promise<RssRun> {
  const t0 = performance.now();
  const p = spawn(process.execPath, ["--import", "tsx", "--import", INJECT, join(ROOT, "bin", "dit.mjs"), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    env: { ...process.env, DIT_INJECT: JSON.stringify({ rss: EVERY }), DIT_INJECT_FD: "3" },
  });
  const samples: { step: number; rss: number }[] = [];
  let stderr = "";
  let buf = "";
  p.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-3000)));
  (p.stdio[3] as NodeJS.ReadableStream).on("data", (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const m = /^rss (\d+) (\d+)$/.exec(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (m) samples.push({ step: Number(m[1]), rss: Number(m[2]) });
    }
  });
  return new Promise((res, rej) =>
    p.on("close", (code) => (code === 0 ? res({ name, steps, samples, seconds: (performance.now() - t0) / 1000 }) : rej(new Error(`${name}: dit exited with ${code}: ${stderr}`)))),
  );
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The report line of one run, and whether it passes. */
function judge(r: RssRun): { ok: boolean; line: string } {
  const warm = r.samples.filter((s) => s.step >= r.steps * 0.1 && s.step <= r.steps); // runs after the last step (the VAE decoding the final latents) are not steps
  if (warm.length < 2) return { ok: false, line: `${r.name}: only ${r.samples.length} RSS samples` };
  const base = warm[0]!;
  const end = warm[warm.length - 1]!;
  const max = Math.max(...warm.map((s) => s.rss));
  const growth = (end.rss - base.rss) / base.rss;
  const ok = growth <= LIMIT && end.step >= r.steps;
  return {
    ok,
    line: `${r.name}: ${end.step} steps in ${r.seconds.toFixed(0)} s; RSS first ${MB(r.samples[0]!.rss)} (step ${r.samples[0]!.step}), after warm-up ${MB(base.rss)} (step ${base.step}), end ${MB(end.rss)}, max after warm-up ${MB(max)}; growth ${(growth * 100).toFixed(2)} % (limit ${LIMIT * 100} %) ${ok ? "OK" : "FAIL"}`,
  };
}

const { values } = parseArgs({ options: { steps: { type: "string", default: "1000" }, only: { type: "string" } } });
const steps = Number(values.steps);
const dir = mkdtempSync(join(tmpdir(), "dit-soak-"));
let failed = false;
try {
  if (values.only !== "train") {
    const r = await runChild("dit sample (bundled model, DDPM)", ["sample", "--sampler", "ddpm", "--num-sampling-steps", String(steps), "--num-samples", "4", "--class", "0", "1", "2", "3", "--out", join(dir, "samples")], steps);
    const j = judge(r);
    console.log(j.line);
    failed ||= !j.ok;
  }
  if (values.only !== "sample") {
    const data = join(dir, "data");
    mkdirSync(data);
    const N = 64;
    writeFileSync(join(data, "train-images-idx3-ubyte"), encodeIdxImages(Uint8Array.from({ length: N * 64 }, (_, k) => (k * 37 + Math.floor(k / 64) * 11) % 256), N, 8, 8));
    writeFileSync(join(data, "train-labels-idx1-ubyte"), encodeIdxLabels(Array.from({ length: N }, (_, i) => i % 10)));
    const config = join(dir, "small.json");
    writeFileSync(config, JSON.stringify({ input_size: 8, patch_size: 2, in_channels: 1, hidden_size: 64, depth: 4, num_heads: 4, mlp_ratio: 4, class_dropout_prob: 0.1, num_classes: 10, learn_sigma: true }));
    const args = ["train", "--data", data, "--vae", "none", "--image-size", "8", "--config", config, "--out", join(dir, "run"), "--steps", String(steps), "--batch-size", "8"];
    const r = await runChild("dit train (small DiT, pixel space)", [...args, "--ckpt-every", String(Math.max(1, steps / 10)), "--log-every", "10"], steps);
    const j = judge(r);
    console.log(j.line);
    failed ||= !j.ok;
  }
} catch (e) {
  console.error(`soak FAILED: ${e instanceof Error ? e.message : String(e)}`);
  failed = true;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
