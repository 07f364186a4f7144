/**
 * `dit export`'s library half: a whole DiT lowered to one standalone ONNX
 * graph (`lowerWholeModel`, runner.ts) and saved as `.onnx` (ONNX external
 * data when over the protobuf limit). The batch size is fixed at export time.
 * `web: true` spells out the ops onnxruntime-web's WebGPU gets wrong (issue 13):
 * tanh-mode Gelu (its kernel computes exact GELU whatever `approximate` says)
 * and Sin/Cos (WGSL promises them to 2^-11 only) become plain Mul/Add/Tanh/Floor.
 */
import { lowerWholeModel } from "../model/runner.js";
import type { DiTConfig } from "../model/config.js";
import type { StateDict } from "./state-dict-tree.js";
import { readFileSync } from "node:fs";
import { expandTanhGelu } from "../runtime/expand-gelu.js";
import { expandTrig } from "../runtime/expand-trig.js";
import { writeFileAtomic } from "./atomic-file.js";
import { saveOnnx, type SaveOptions } from "./onnx-file.js";

/** Lower and save; returns the files written. */
export async function exportModel(config: DiTConfig, weights: StateDict, path: string, opts: SaveOptions & { batch?: number; web?: boolean } = {}): Promise<string[]> {
  const graph = await lowerWholeModel(config, weights, opts.batch ?? 1);
  const files = saveOnnx(graph, path, { name: "dit", ...opts });
  // the rewrite touches nodes only, so a graph with external data keeps its .data file as is
  if (opts.web) writeFileAtomic(path, expandTrig(expandTanhGelu(readFileSync(path))));
  return files;
}
