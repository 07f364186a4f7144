/**
 * Checkpoint conversion (`dit convert`): an official PyTorch checkpoint
 * (`.pt`, zip or legacy format) → safetensors with the official state-dict
 * names. The checkpoint is read by the restricted unpickler (no code from the
 * file ever runs); from a train.py checkpoint only the chosen entry (`ema` by
 * default, as the official sample.py) is read.
 */
import { basename } from "node:path";
import { floatTensorToF32, isFloatDType, writeSafetensors, type StArray, type StTensor } from "./safetensors.js";
import { loadTorchStateDict, TorchCheckpointError, type CheckpointEntry, type TorchLoadOptions } from "./torch-checkpoint.js";

/** `verifyCrc` (default true): check the zip CRC-32 of every record read (see TorchLoadOptions). */
export interface ConvertOptions extends TorchLoadOptions {
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

/**
 * Convert a torch.save checkpoint to safetensors: float tensors as float32,
 * other tensors (e.g. int64 buffers) in their own dtype. The output is written
 * to a temporary file and renamed, so a failure never leaves a partial file.
 */
export function convertCheckpoint(inPath: string, outPath: string, opts: ConvertOptions = {}): ConvertSummary {
  const { stateDict, entry } = loadTorchStateDict(inPath, opts.entry, { verifyCrc: opts.verifyCrc });
  if (stateDict.size === 0) throw new TorchCheckpointError(inPath, "the state dict has no tensors");
  const out = new Map<string, { data: StArray; shape: number[]; dtype: StTensor["dtype"] }>();
  let params = 0;
  for (const [k, t] of stateDict) {
    params += t.shape.reduce((a, b) => a * b, 1);
    if (isFloatDType(t.dtype)) out.set(k, { data: floatTensorToF32(t), shape: t.shape, dtype: "F32" });
    else out.set(k, { data: t.data, shape: t.shape, dtype: t.dtype });
  }
  const metadata: Record<string, string> = { format: "pt", source: basename(inPath) };
  if (entry) metadata.entry = entry;
  writeSafetensors(outPath, out, metadata);
  return { input: inPath, output: outPath, entry, tensors: stateDict.size, params };
}
