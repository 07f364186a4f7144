/**
 * `dit convert`: an official PyTorch checkpoint (`.pt`, zip or legacy format)
 * → float32 safetensors with the official state-dict names. The checkpoint
 * is read by the restricted unpickler (no code from the file ever runs); from
 * a train.py checkpoint only the chosen entry (`ema` by default, as the
 * official sample.py) is read.
 */
import { basename } from "node:path";
import { Option, type Command } from "commander";
import { floatTensorToF32, writeSafetensors, type StArray, type StTensor } from "../io/safetensors.js";

export { floatTensorToF32 };
import { loadTorchStateDict, type CheckpointEntry } from "../io/torch-checkpoint.js";
import { printJson } from "./output.js";

export interface ConvertOptions {
  /** Which entry of a train.py checkpoint to convert (default: `ema`, else the plain state dict). */
  entry?: CheckpointEntry;
}

export interface ConvertSummary {
  input: string;
  output: string;
  /** The checkpoint entry converted; null for a plain state dict. */
  entry: string | null;
  tensors: number;
  /** Total elements over all tensors. */
  params: number;
}

const FLOATS = new Set(["F32", "F64", "F16", "BF16"]);

/**
 * Convert a torch.save checkpoint to safetensors: float tensors as float32,
 * other tensors (e.g. int64 buffers) in their own dtype. The output is written
 * to a temporary file and renamed, so a failure never leaves a partial file.
 */
export function convertCheckpoint(inPath: string, outPath: string, opts: ConvertOptions = {}): ConvertSummary {
  const { stateDict, entry } = loadTorchStateDict(inPath, opts.entry);
  if (stateDict.size === 0) throw new Error(`${inPath}: the state dict has no tensors`);
  const out = new Map<string, { data: StArray; shape: number[]; dtype: StTensor["dtype"] }>();
  let params = 0;
  for (const [k, t] of stateDict) {
    params += t.shape.reduce((a, b) => a * b, 1);
    if (FLOATS.has(t.dtype)) out.set(k, { data: floatTensorToF32(t), shape: t.shape, dtype: "F32" });
    else out.set(k, { data: t.data, shape: t.shape, dtype: t.dtype });
  }
  const metadata: Record<string, string> = { format: "pt", source: basename(inPath) };
  if (entry) metadata.entry = entry;
  writeSafetensors(outPath, out, metadata);
  return { input: inPath, output: outPath, entry, tensors: stateDict.size, params };
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a PyTorch checkpoint (.pt, e.g. the official DiT-XL-2-256x256.pt or a train.py checkpoint) to float32 safetensors")
    .argument("<input>", "torch.save checkpoint (zip or legacy format); never executed, only parsed")
    .argument("<output>", "safetensors file to write")
    .addOption(new Option("--entry <name>", "entry of a train.py checkpoint to convert (default: ema if present)").choices(["model", "ema"]))
    .option("--json", "print one JSON line {input, output, entry, tensors, params} on stdout")
    .action((input: string, output: string, opts: { entry?: CheckpointEntry; json?: boolean }) => {
      const s = convertCheckpoint(input, output, { entry: opts.entry });
      if (opts.json) return printJson(s);
      const from = s.entry ? `entry '${s.entry}' of ${s.input}` : s.input;
      process.stdout.write(`wrote ${s.output}: ${s.tensors} tensors, ${s.params.toLocaleString("en-US")} parameters (from ${from})\n`);
    });
}
