/**
 * Fuzz target: latent-dataset files (magic DITLAT01, src/data/latents.ts `LatentDataset`),
 * seeds written by the project's own `extractLatents` (a tiny random VAE over 3 IDX images).
 * A load opens the file and reads every record and its mirror. Lies: header lengths that
 * lie, JSON headers that lie (counts, shapes, offsets, record sizes, completed counts,
 * classNames, vaeConfig), non-object / deeply nested headers, truncated and extra records.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeIdxLabels } from "../../../src/data/idx.js";
import { extractLatents, LatentDataset } from "../../../src/data/latents.js";
import { encodeIdxImages } from "../../../src/io/datasets.js";
import { AutoencoderKL } from "../../../src/vae/autoencoder.js";
import type { VaeConfig } from "../../../src/vae/config.js";
import { initVaeParams } from "../../../src/vae/init.js";
import { setupJax } from "../../helpers.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const PREAMBLE = 24;

interface Layout {
  hLen: number;
  header: Record<string, unknown>;
}

function layout(b: Uint8Array): Layout {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hLen = v.getUint32(8, true);
  return { hLen, header: JSON.parse(Buffer.from(b.subarray(PREAMBLE, PREAMBLE + hLen)).toString("utf8")) as Record<string, unknown> };
}

function boundaries(b: Uint8Array): number[] {
  const { hLen, header } = layout(b);
  const out = new Set([0, 8, 12, 16, PREAMBLE, PREAMBLE + hLen, header.labelsOffset as number, header.dataOffset as number, b.length]);
  const rb = header.recordBytes as number;
  for (let i = 0; i <= (header.count as number); i++) out.add((header.dataOffset as number) + i * rb).add((header.dataOffset as number) + i * rb + rb / 2);
  return [...out].sort((a, c) => a - c);
}

async function seeds(): Promise<FuzzSeed[]> {
  await setupJax();
  const tmp = mkdtempSync(join(tmpdir(), "dit-fuzz-latents-"));
  const config: VaeConfig = { inChannels: 1, outChannels: 1, blockOutChannels: [4, 4], layersPerBlock: 1, latentChannels: 2, normNumGroups: 2, scalingFactor: 0.5 };
  const vae = new AutoencoderKL(config, initVaeParams(config, 1));
  try {
    const data = join(tmp, "idx");
    mkdirSync(data);
    const S = 4;
    writeFileSync(join(data, "train-images-idx3-ubyte"), encodeIdxImages(Uint8Array.from({ length: 3 * S * S }, (_, k) => (k * 41) % 256), 3, S, S));
    writeFileSync(join(data, "train-labels-idx1-ubyte"), encodeIdxLabels([2, 0, 1]));
    const out: FuzzSeed[] = [];
    for (const [name, classNames] of [["3-records", undefined], ["3-records-named", ["a", "b", "c"]]] as const) {
      const file = join(tmp, `${name}.latents`);
      await extractLatents({ dataset: data, datasetOptions: { imageSize: S, classNames: classNames ? [...classNames] : undefined }, vae, out: file, batchSize: 2 });
      const bytes = new Uint8Array(readFileSync(file));
      out.push({ name, bytes, boundaries: boundaries(bytes) });
    }
    return out;
  } finally {
    await vae.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The file with a new JSON header (space-padded to the old length when it fits; else the length field follows it). */
function withHeader(b: Uint8Array, header: unknown, keepLength = true): Uint8Array {
  const { hLen } = layout(b);
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  if (keepLength && json.length <= hLen) {
    const out = b.slice();
    out.fill(0x20, PREAMBLE, PREAMBLE + hLen);
    out.set(json, PREAMBLE);
    return out;
  }
  const out = new Uint8Array(PREAMBLE + json.length + (b.length - PREAMBLE - hLen));
  out.set(b.subarray(0, PREAMBLE));
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, PREAMBLE);
  out.set(b.subarray(PREAMBLE + hLen), PREAMBLE + json.length);
  return out;
}

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const b = seed.bytes;
  const { header } = layout(b);
  const big = [0, -1, 1.5, 1e12, 2 ** 53, 2 ** 32, 1e308, "3", null, [], 4, 2];
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const out = b.slice();
      const v = pick(rand, [0, 1, 0xffffffff, 2 ** 28, 2 ** 28 + 1, b.length, layout(b).hLen + 1, layout(b).hLen - 1]);
      new DataView(out.buffer).setUint32(8, v, true);
      return { what: `header length ${v}`, bytes: out };
    },
    () => {
      const out = b.slice();
      const v = pick(rand, [0n, 1n, 2n, 4n, 2n ** 64n - 1n, 2n ** 53n + 1n, 1_000_000_000_000n]);
      new DataView(out.buffer).setBigUint64(16, v, true);
      return { what: `completed ${v}`, bytes: out };
    },
    () => {
      const k = pick(rand, ["count", "numClasses", "recordBytes", "labelsOffset", "dataOffset", "version", "scalingFactor"]);
      header[k] = pick(rand, big);
      return { what: `${k} = ${JSON.stringify(header[k])}`, bytes: withHeader(b, header) };
    },
    () => {
      const k = pick(rand, ["latentShape", "imageShape"]);
      header[k] = pick(rand, [[1e6, 1e6, 1e6], [2 ** 31, 2, 2], [0, 2, 2], [-2, 2, 2], [2, 2], [2, 2, 2, 2], "2x2x2", [1.5, 2, 2], [null, 2, 2], [1e308, 1e308, 1e308]]);
      return { what: `${k} = ${JSON.stringify(header[k])}`, bytes: withHeader(b, header) };
    },
    () => {
      // a count and record size that agree with each other but not with the file
      const c = pick(rand, [4, 1e6, 1e12]);
      header.count = c;
      return { what: `count ${c} (offsets not updated)`, bytes: withHeader(b, header) };
    },
    () => {
      const k = pick(rand, ["classNames", "vaeConfig", "source", "vaeSource", "format", "datasetFingerprint"]);
      header[k] = pick(rand, [null, 5, "x", [], ["a"], Array(1000).fill("n"), { inChannels: 1e12 }, [[[]]], { __proto__: null }, true]);
      return { what: `${k} = ${JSON.stringify(header[k])?.slice(0, 30)}`, bytes: withHeader(b, header) };
    },
    () => {
      const v = pick(rand, ["[]", "null", "42", '"dit-latents"', "{}", "[".repeat(1e5) + "]".repeat(1e5), "{", '{"__proto__":{"count":1}}']);
      return { what: `JSON header ${v.slice(0, 12)}`, bytes: withHeader(b, v, rand() < 0.5) };
    },
    () => {
      const out = b.slice();
      out.set([0xff, 0xfe, 0xc0], PREAMBLE + 3);
      return { what: "invalid UTF-8 in the header", bytes: out };
    },
    () => {
      const rb = header.recordBytes as number;
      const cut = pick(rand, [1, 4, rb / 2, rb, rb + 3]);
      return { what: `last ${cut} bytes cut`, bytes: b.slice(0, b.length - cut) };
    },
    () => {
      const extra = pick(rand, [1, 64, header.recordBytes as number]);
      return { what: `${extra} extra bytes`, bytes: new Uint8Array(Buffer.concat([b, new Uint8Array(extra)])) };
    },
    () => {
      // a label outside the classes, or a NaN / Inf in a record
      const out = b.slice();
      const v = new DataView(out.buffer);
      if (rand() < 0.5) v.setInt32((header.labelsOffset as number) + 4 * Math.floor(rand() * 3), pick(rand, [-1, 3, 10, 2 ** 31 - 1]), true);
      else v.setFloat32((header.dataOffset as number) + 4 * Math.floor(rand() * ((b.length - (header.dataOffset as number)) / 4)), pick(rand, [NaN, Infinity, -Infinity]), true);
      return { what: "bad label or non-finite value", bytes: out };
    },
  ];
  return pick(rand, lies)();
}

const target: FuzzTarget = {
  format: "latents",
  ext: ".latents",
  seeds,
  lie,
  load(path: string) {
    const ds = LatentDataset.open(path);
    try {
      let sum = 0;
      for (let i = 0; i < ds.length; i++) {
        for (const flip of [false, true]) {
          const r = ds.read(i, flip);
          for (const x of r.mean) sum += x;
          for (const x of r.logvar) sum += x;
        }
      }
      return { count: ds.length, shape: ds.latentShape, sum };
    } finally {
      ds.close();
    }
  },
};

export default target;
