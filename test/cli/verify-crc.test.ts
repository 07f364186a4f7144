/**
 * `--no-verify-crc` on `dit convert`, `dit forward` and `dit sample`: a `.pt` zip with one flipped bit in a
 * tensor's data is refused by default (one line naming the record, non-zero exit, no output file)
 * and loads with the flag (convert then writes the changed weights).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readSafetensors, toFloat32, writeSafetensors } from "../../src/io/safetensors.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor } from "../../src/io/torch-save.js";
import { REPO_FIXTURE_ROOT } from "../fixture-root.js";
import { parseZip } from "../io/pickle-builder.js";

const BIN = fileURLToPath(new URL("../../bin/dit.mjs", import.meta.url));
const dit = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, DIT_DEBUG: "" } });

const tmp = mkdtempSync(join(tmpdir(), "dit-verify-crc-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Save `tensors` as a `.pt` zip, then flip bit 0 of the first byte of the first storage record; returns the path and record name. */
function flippedPt(name: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): { path: string; record: string } {
  const path = join(tmp, name);
  saveTorchCheckpoint(path, new TorchOrderedDict(new Map([...tensors].map(([k, t]) => [k, new TorchTensor("float32", t.shape, t.data)]))));
  const bytes = new Uint8Array(readFileSync(path));
  const rec = parseZip(bytes).layout.records.find((r) => /\/data\/\d+$/.test(r.name) && r.end > r.start)!;
  bytes[rec.start]! ^= 1;
  writeFileSync(path, bytes);
  return { path, record: rec.name };
}

/** Asserts a refused run: non-zero exit, one stderr line naming the CRC mismatch of `record`, no output file. */
function refusedForCrc(r: ReturnType<typeof dit>, record: string, out: string): void {
  assert.notEqual(r.status, 0, r.stdout);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^dit: .*${record.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: CRC-32 mismatch`));
  assert.ok(!existsSync(out), `${out} was written`);
}

describe("--no-verify-crc", () => {
  it("dit convert: a flipped data bit is refused by default and converts with --no-verify-crc", () => {
    const w = Float32Array.from({ length: 12 }, (_, i) => i + 0.5);
    const { path, record } = flippedPt("convert.pt", new Map([["w", { shape: [3, 4], data: w }]]));
    const out = join(tmp, "convert.safetensors");
    refusedForCrc(dit("convert", path, out), record, out);

    const r = dit("convert", path, out, "--no-verify-crc");
    assert.equal(r.status, 0, r.stderr);
    const got = toFloat32(readSafetensors(out).tensors.get("w")!.data);
    const changed = [...got].filter((v, i) => v !== w[i]).length;
    assert.equal(changed, 1, "exactly the flipped weight differs");
  });

  it("dit convert, forward and sample --help document the flag", () => {
    for (const c of ["convert", "forward", "sample"]) assert.match(dit(c, "--help").stdout.replace(/\s+/g, " "), /--no-verify-crc skip the CRC-32 check of \.pt zip records \(faster; a corrupt file may load\)/);
  });

  it("dit forward: a flipped bit in .pt weights is refused by default and runs with --no-verify-crc", () => {
    const dir = join(REPO_FIXTURE_ROOT, "dit-reference/models/tiny_p2");
    const weights = readSafetensors(join(dir, "weights.safetensors")).tensors;
    const { path, record } = flippedPt("tiny.pt", new Map([...weights].map(([k, t]) => [k, { shape: t.shape, data: toFloat32(t.data) }])));
    const io = readSafetensors(join(dir, "io.safetensors")).tensors;
    const inputs = join(tmp, "in.safetensors");
    writeSafetensors(inputs, { x: io.get("input.x")!, t: io.get("input.t")!, y: io.get("input.y")! });
    const out = join(tmp, "forward.safetensors");
    const args = ["forward", "--weights", path, "--config", join(dir, "config.json"), "--inputs", inputs, "--out", out, "--json"];
    refusedForCrc(dit(...args), record, out);

    const r = dit(...args, "--no-verify-crc");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { tensors: string[] }).tensors, ["forward"]);
  });

  it("dit sample: a flipped bit in .pt weights is refused by default and samples with --no-verify-crc", () => {
    // the tiny_p2 reference model has the bundled VAE's latent shape (4×8×8), so it samples through that VAE
    const dir = join(REPO_FIXTURE_ROOT, "dit-reference/models/tiny_p2");
    const weights = readSafetensors(join(dir, "weights.safetensors")).tensors;
    const { path, record } = flippedPt("sample.pt", new Map([...weights].map(([k, t]) => [k, { shape: t.shape, data: toFloat32(t.data) }])));
    const out = join(tmp, "samples");
    const args = ["sample", "--ckpt", path, "--config", join(dir, "config.json"), "--vae", "models/fashion-mnist/vae", "--class", "1", "--num-samples", "1", "--sampler", "ddim", "--num-sampling-steps", "2", "--out", out, "--json"];
    refusedForCrc(dit(...args), record, out);

    const r = dit(...args, "--no-verify-crc");
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { images: string[] }).images.length, 1);
  });
});
