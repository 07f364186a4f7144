/**
 * Benchmark: the full-size Stable Diffusion VAE (sd-vae-ft-*, 83.7M parameters,
 * random weights) encoding a 256×256 image and decoding a 32×32×4 latent.
 */
import { AutoencoderKL, SD_VAE_CONFIG, vaeParamShapes } from "../src/vae/index.js";
import { Tensor } from "../src/runtime/tensor.js";
import { Rng } from "../src/util/rng.js";
import { timeIt } from "./timing.js";

export interface VaeRow {
  pass: "encode 256×256" | "decode 32×32×4";
  ms: number;
  peakRssMb: number;
}

export async function benchVae(runs: number): Promise<VaeRow[]> {
  const rng = new Rng(3);
  const weights = new Map<string, Tensor>();
  for (const [k, shape] of vaeParamShapes(SD_VAE_CONFIG)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    weights.set(k, new Tensor(k.endsWith("weight") && shape.length > 1 ? rng.normals(n, 1 / Math.sqrt(fanIn)) : k.includes("norm") && k.endsWith("weight") ? new Float32Array(n).fill(1) : new Float32Array(n), shape));
  }
  const vae = new AutoencoderKL(SD_VAE_CONFIG, weights);
  const image = new Tensor(rng.uniforms(3 * 256 * 256, -1, 1), [1, 3, 256, 256]);
  const latent = new Tensor(rng.normals(4 * 32 * 32), [1, 4, 32, 32]);
  const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);
  const enc = await timeIt(() => vae.encode(image), { runs });
  const encRss = rss();
  const dec = await timeIt(() => vae.decode(latent), { runs });
  await vae.dispose();
  return [
    { pass: "encode 256×256", ms: enc.medianMs, peakRssMb: encRss },
    { pass: "decode 32×32×4", ms: dec.medianMs, peakRssMb: rss() },
  ];
}
