/**
 * `dit export`'s library half: a whole DiT lowered to one standalone ONNX
 * graph (`lowerWholeModel`, runner.ts) and saved as `.onnx` (ONNX external
 * data when over the protobuf limit). The batch size is fixed at export time.
 */
import { lowerWholeModel } from "../model/runner.js";
import type { DiTConfig } from "../model/config.js";
import type { StateDict } from "./state-dict-tree.js";
import { saveOnnx, type SaveOptions } from "./onnx-file.js";

/** Lower and save; returns the files written. */
export async function exportModel(config: DiTConfig, weights: StateDict, path: string, opts: SaveOptions & { batch?: number } = {}): Promise<string[]> {
  const graph = await lowerWholeModel(config, weights, opts.batch ?? 1);
  return saveOnnx(graph, path, { name: "dit", ...opts });
}
