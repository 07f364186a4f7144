/**
 * Time ONNX files on ONNX Runtime, interleaved in one process (A, B, A, B, …)
 * so that both see the same machine load: e.g. our `dit export` of a model
 * against a PyTorch export of the same model (bench/torch_dit.py --export).
 *
 *   node --import tsx bench/onnx-ab.ts A.onnx B.onnx [--rounds 20]
 *
 * Inputs are x (N, 4, 32, 32) float32, t (N) float32 and, where the model has
 * it, y (N) int32 or int64 (as the file declares); N is read from the file.
 * Sessions use both cores without spin-waiting (spinning pools of idle
 * sessions would steal the other session's cores). Prints medians and minima.
 */
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";

const args = process.argv.slice(2);
const ri = args.indexOf("--rounds");
const rounds = ri >= 0 ? Number(args[ri + 1]) : 20;
const paths = args.filter((a, i) => !a.startsWith("--") && (ri < 0 || i !== ri + 1));
if (paths.length === 0 || !Number.isInteger(rounds) || rounds < 1) {
  console.error("usage: node --import tsx bench/onnx-ab.ts A.onnx [B.onnx …] [--rounds 20]");
  process.exit(2);
}

interface Meta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

const sessions = await Promise.all(paths.map((p) => ort.InferenceSession.create(p, { intraOpNumThreads: 2, graphOptimizationLevel: "all", extra: { session: { intra_op: { allow_spinning: "0" } } } } as never)));
const feeds = sessions.map((s, i) => {
  const meta = (s as unknown as { inputMetadata: Meta[] }).inputMetadata;
  const x = meta.find((m) => m.name === "x");
  const n = typeof x?.shape?.[0] === "number" ? x.shape[0] : 1;
  const f: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", Float32Array.from({ length: n * 4 * 32 * 32 }, (_, k) => Math.sin(k)), [n, 4, 32, 32]),
    t: new ort.Tensor("float32", new Float32Array(n).fill(500), [n]),
  };
  const y = meta.find((m) => m.name === "y");
  if (y) f.y = y.type === "int64" ? new ort.Tensor("int64", new BigInt64Array(n).fill(3n), [n]) : new ort.Tensor("int32", new Int32Array(n).fill(3), [n]);
  for (const m of meta) if (!(m.name in f)) throw new Error(`${paths[i]}: unexpected input '${m.name}' (expected x, t, y)`);
  return f;
});
const times: number[][] = paths.map(() => []);
for (let i = 0; i < paths.length; i++) for (let k = 0; k < 2; k++) await sessions[i]!.run(feeds[i]!);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < paths.length; i++) {
    const t0 = performance.now();
    await sessions[i]!.run(feeds[i]!);
    times[i]!.push(performance.now() - t0);
  }
}
console.log(`${cpus()[0]?.model ?? "CPU"}, ${cpus().length} cores, onnxruntime-node ${ort.env.versions.common}, ${rounds} interleaved rounds`);
paths.forEach((p, i) => {
  const s = times[i]!.sort((a, b) => a - b);
  console.log(`${p}: median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, min ${s[0]!.toFixed(1)} ms`);
});
await Promise.all(sessions.map((s) => s.release()));
