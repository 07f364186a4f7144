/**
 * Extracted latents: one file of (mean, logvar) for every image and its mirror
 * image, read back with positional reads; resume after an interruption; typed
 * errors for truncated, corrupt and mismatched files; the `dit extract-latents` command.
 * A tiny random VAE (1 → 4 channels, ×2 downsampling) over 6 IDX images of 8×8.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DatasetError, LatentDataset, encodeIdxLabels, extractLatents, openDataset } from "../../src/data/index.js";
import { encodeIdxImages } from "../../src/io/datasets.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { AutoencoderKL } from "../../src/vae/autoencoder.js";
import type { VaeConfig } from "../../src/vae/config.js";
import { initVaeParams } from "../../src/vae/init.js";
import { loadVae } from "../../src/vae/load.js";
import { saveVae } from "../../src/vae/train.js";
import { relErr, setupJax } from "../helpers.js";

const BIN = fileURLToPath(new URL("../../bin/dit.mjs", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "dit-data-latents-"));
const N = 6;
const S = 8;
const LABELS = [4, 1, 0, 9, 4, 7];
const config: VaeConfig = { inChannels: 1, outChannels: 1, blockOutChannels: [8, 8], layersPerBlock: 1, latentChannels: 4, normNumGroups: 4, scalingFactor: 0.75 };
const L = 4 * (S / 2) * (S / 2);

let vae: AutoencoderKL;
let dataDir: string;

before(async () => {
  await setupJax();
  vae = new AutoencoderKL(config, initVaeParams(config, 3));
  dataDir = join(tmp, "mnist");
  mkdirSync(dataDir);
  // asymmetric images, so that an image and its mirror encode differently
  const px = Uint8Array.from({ length: N * S * S }, (_, k) => ((k % S) * 29 + Math.floor(k / S) * 7 + (k % 5) * 13) % 256);
  writeFileSync(join(dataDir, "train-images-idx3-ubyte"), encodeIdxImages(px, N, S, S));
  writeFileSync(join(dataDir, "train-labels-idx1-ubyte"), encodeIdxLabels(LABELS));
});
after(async () => {
  await vae?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const opts = { imageSize: S };

describe("extract-latents", () => {
  let full: Buffer;

  it("writes one file: header, labels, (mean, logvar) of each image and of its mirror image, equal to encoding each alone", async () => {
    const out = join(tmp, "a.latents");
    const res = await extractLatents({ dataset: dataDir, datasetOptions: opts, vae, out, batchSize: 4 });
    assert.equal(res.complete, true);
    assert.equal(res.resumedFrom, 0);
    assert.ok(!existsSync(`${out}.partial`));
    full = readFileSync(out);
    assert.equal(full.subarray(0, 8).toString("latin1"), "DITLAT01");

    const ds = LatentDataset.open(out);
    try {
      assert.equal(ds.length, N);
      assert.deepEqual(ds.latentShape, [4, S / 2, S / 2]);
      assert.deepEqual([...ds.labels], LABELS);
      assert.equal(ds.scalingFactor, 0.75);
      assert.equal(ds.numClasses, 10);
      assert.equal(ds.classNames?.[3], "3");
      assert.match(ds.header.description, /6 grey images 8×8/);
      const images = openDataset(dataDir, opts).images;
      for (const i of [0, 5]) {
        const img = images.slice(i * S * S, (i + 1) * S * S);
        const mirror = new Float32Array(S * S);
        for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) mirror[y * S + x] = img[y * S + (S - 1 - x)]!;
        for (const [flip, pixels] of [[false, img], [true, mirror]] as const) {
          const q = await vae.encode(new Tensor(pixels, [1, 1, S, S]));
          const r = ds.read(i, flip);
          assert.equal(r.label, LABELS[i]);
          assert.equal(r.mean.length, L);
          assert.ok(relErr(r.mean, q.mean.data as Float32Array) <= 1e-5, `image ${i} flip ${flip}: mean rel err ${relErr(r.mean, q.mean.data as Float32Array)}`);
          assert.ok(relErr(r.logvar, q.logvar.data as Float32Array) <= 1e-5, `image ${i} flip ${flip}: logvar`);
        }
        assert.ok(relErr(ds.read(i, true).mean, ds.read(i, false).mean) > 1e-3, "the mirror image's latent differs from the image's");
      }
    } finally {
      ds.close();
    }
  });

  it("an interrupted extraction resumes (garbage past the last synced record included) to the same bytes", async () => {
    const out = join(tmp, "b.latents");
    const ctrl = new AbortController();
    const first = await extractLatents({ dataset: dataDir, datasetOptions: opts, vae, out, batchSize: 2, signal: ctrl.signal, onProgress: (done) => done >= 2 && ctrl.abort() });
    assert.equal(first.complete, false);
    assert.equal(first.out, `${out}.partial`);
    assert.ok(!existsSync(out));
    assert.throws(() => LatentDataset.open(`${out}.partial`), (e: unknown) => e instanceof DatasetError && /unfinished: 2 of 6 records/.test(e.message));
    // a crash in the middle of the next batch: half a record written, not counted
    appendFileSync(`${out}.partial`, Buffer.alloc(4 * L + 3, 0xab));
    const seen: number[] = [];
    const second = await extractLatents({ dataset: dataDir, datasetOptions: opts, vae, out, batchSize: 2, onProgress: (d) => seen.push(d) });
    assert.equal(second.complete, true);
    assert.equal(second.resumedFrom, 2);
    assert.deepEqual(seen, [2, 4, 6]);
    const uninterrupted = join(tmp, "b-full.latents");
    await extractLatents({ dataset: dataDir, datasetOptions: opts, vae, out: uninterrupted, batchSize: 2 });
    assert.ok(readFileSync(out).equals(readFileSync(uninterrupted)), "resumed file is byte-identical to an uninterrupted run");
  });

  it("a finished file of the same job is kept (also with the VAE given as a saved folder); another job's file is refused", async () => {
    const out = join(tmp, "a.latents");
    const dir = join(tmp, "vae");
    saveVae(dir, config, vae.weights, S);
    const again = await extractLatents({ dataset: dataDir, datasetOptions: opts, vae: dir, out, batchSize: 4 });
    assert.equal(again.resumedFrom, N);
    assert.ok(readFileSync(out).equals(full));
    const other = new AutoencoderKL(config, initVaeParams(config, 4));
    try {
      await assert.rejects(extractLatents({ dataset: dataDir, datasetOptions: opts, vae: other, out, batchSize: 4 }), (e: unknown) => e instanceof DatasetError && /already holds latents of another job \(differs in vaeFingerprint\)/.test(e.message));
      const partial = join(tmp, "c.latents");
      const ctrl = new AbortController();
      ctrl.abort();
      await extractLatents({ dataset: dataDir, datasetOptions: opts, vae, out: partial, signal: ctrl.signal });
      await assert.rejects(extractLatents({ dataset: dataDir, datasetOptions: { imageSize: 16 }, vae: other, out: partial }), (e: unknown) => e instanceof DatasetError && /c\.latents\.partial: an interrupted extraction of another job \(differs in .*latentShape.*datasetFingerprint.*vaeFingerprint/.test(e.message));
    } finally {
      await other.dispose();
    }
  });

  it("loadVae reads a `dit vae-train` folder back to the same weights", () => {
    const dir = join(tmp, "vae");
    const back = loadVae(dir);
    assert.deepEqual(back.config, config);
    for (const [k, t] of vae.weights) assert.deepEqual(back.weights.get(k)!.data, t.data, k);
  });

  it("truncated, corrupt or foreign files get a DatasetError naming the file", () => {
    const bad = (name: string, bytes: Buffer) => {
      const p = join(tmp, name);
      writeFileSync(p, bytes);
      return p;
    };
    const isErr = (p: string, re: RegExp) => (e: unknown) => e instanceof DatasetError && e.message.startsWith(p) && re.test(e.message);
    const cut = bad("cut.latents", full.subarray(0, full.length - 10));
    assert.throws(() => LatentDataset.open(cut), isErr(cut, /truncated: 6 records of 1024 bytes end at \d+, the file has \d+ bytes/));
    const longer = bad("long.latents", Buffer.concat([full, Buffer.alloc(4)]));
    assert.throws(() => LatentDataset.open(longer), isErr(longer, /corrupt: 6 records/));
    const tiny = bad("tiny.latents", full.subarray(0, 10));
    assert.throws(() => LatentDataset.open(tiny), isErr(tiny, /too short/));
    const magic = Buffer.from(full);
    magic.write("NOTLAT01", 0, "latin1");
    const m = bad("magic.latents", magic);
    assert.throws(() => LatentDataset.open(m), isErr(m, /not a dit latent file \(magic "NOTLAT01"/));
    const json = Buffer.from(full);
    json[24] = 0x7d; // "}" where the JSON starts
    const j = bad("json.latents", json);
    assert.throws(() => LatentDataset.open(j), isErr(j, /corrupt JSON header/));
    const hdr = Buffer.from(full);
    hdr.writeUInt32LE(1 << 30, 8);
    const h = bad("hlen.latents", hdr);
    assert.throws(() => LatentDataset.open(h), isErr(h, /truncated or corrupt: the header declares 1073741824 JSON bytes/));
    const label = Buffer.from(full);
    const ds = LatentDataset.open(join(tmp, "a.latents"));
    label.writeInt32LE(77, ds.header.labelsOffset + 4);
    ds.close();
    const lb = bad("label.latents", label);
    assert.throws(() => LatentDataset.open(lb), isErr(lb, /label 77 of record 1 is outside 0\.\.9/));
    const missing = join(tmp, "none.latents");
    assert.throws(() => LatentDataset.open(missing), isErr(missing, /cannot open the latent file/));
    truncateSync(cut, 0);
    assert.throws(() => LatentDataset.open(cut), isErr(cut, /0 bytes is too short/));
  });

  it("refuses images whose channels or size the VAE cannot encode", async () => {
    await assert.rejects(extractLatents({ dataset: dataDir, datasetOptions: { imageSize: 9 }, vae, out: join(tmp, "x.latents") }), /image size 9×9 is not divisible by the VAE's downsampling factor 2/);
  });

  it("dit extract-latents --json writes the file and prints one JSON line; --help documents it", () => {
    const out = join(tmp, "cli.latents");
    const stdout = execFileSync(process.execPath, [BIN, "extract-latents", "--data", dataDir, "--vae", join(tmp, "vae"), "--out", out, "--image-size", String(S), "--batch-size", "4", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const res = JSON.parse(stdout.trim());
    assert.deepEqual({ ...res, description: undefined }, { out, complete: true, count: N, resumed_from: 0, latent_shape: [4, 4, 4], num_classes: 10, scaling_factor: 0.75, description: undefined });
    assert.ok(readFileSync(out).subarray(0, 8).toString() === "DITLAT01");
    assert.match(execFileSync(process.execPath, [BIN, "extract-latents", "--help"], { encoding: "utf8" }), /--data <path>[\s\S]*--vae <path>[\s\S]*--out <file>[\s\S]*--image-size/);
  });
});
