/**
 * models/manifest.json's types: written by web/build.ts (Node), read by the page
 * (models.ts) and bench/web-precision.ts. No DOM here, so Node code can import it.
 */
import type { DiTConfig } from "../../src/model/config.js";
import type { VaeGeometry } from "./graph-check.js";

/** One ONNX graph of the site, with the batch baked into it. */
export interface GraphEntry {
  /** File name under models/. */
  file: string;
  /** Rows per run (the batch baked in at export). */
  batch: number;
  bytes: number;
  /** SHA-256 of the file (hex): part of the URL, so a rebuilt model is never served from an old cache entry. */
  sha256: string;
}

/** models/manifest.json, written by web/build.ts. */
export interface Manifest {
  dit: {
    config: DiTConfig;
    /** The same DiT exported at several batch sizes (rows: images × 2 with guidance); the page runs rows in chunks of these. */
    graphs: GraphEntry[];
  };
  vae: VaeGeometry & {
    /** Decoder graph: input z (batch, latentChannels, latentSize, latentSize) unscaled latents → image (batch, C, H, W). */
    graph: GraphEntry;
    scalingFactor: number;
    /** Decoded image (H, W, C). */
    image: [number, number, number];
  };
  /** File name of the class names (a JSON array of strings). */
  classes: string;
}
