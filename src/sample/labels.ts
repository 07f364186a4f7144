/**
 * Class labels for sampling: resolving `--class` values (ids or names) and
 * the label of every image (cycling through the given classes, or drawn at
 * random over all classes as the official sample_ddp.py does).
 */
import { findClass, IMAGENET_CLASSES } from "../model/imagenet.js";
import { Rng } from "../util/rng.js";
import { SampleError } from "./errors.js";

/** Case-insensitive form used for matching; "_" and "-" count as a space. */
const normalize = (s: string) => s.trim().replace(/[_\s-]+/g, " ").toLowerCase();

/** Levenshtein edit distance. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The `n` names nearest to `query` by edit distance (ties by id), as "id: name". */
export function nearestNames(query: string, names: readonly string[], n = 5): string[] {
  const q = normalize(query);
  return names
    .map((name, id) => ({ id, name, d: editDistance(q, normalize(name)) }))
    .sort((x, y) => x.d - y.d || x.id - y.id)
    .slice(0, n)
    .map((s) => `${s.id}: ${s.name}`);
}

/**
 * A class id from an id (number or digit string) or a name. Names match the
 * model's own `classNames` when it has them (case-insensitive, exact first,
 * then a unique substring), else ImageNet's names for 1000-class models
 * (`findClass`). An unknown name lists the nearest names.
 */
export function resolveClass(query: string | number, numClasses: number, classNames?: readonly string[]): number {
  const checkId = (id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= numClasses) throw new SampleError(`class ${id} is out of range: the model has ${numClasses} classes (0..${numClasses - 1})`);
    return id;
  };
  if (typeof query === "number") return checkId(query);
  const raw = query.trim();
  if (/^\d+$/.test(raw)) return checkId(Number(raw));
  if (raw === "") throw new SampleError("empty class name");
  if (classNames) {
    const q = normalize(raw);
    const norm = classNames.map(normalize);
    const exact = norm.flatMap((n, id) => (n === q ? [id] : []));
    if (exact.length === 1) return exact[0]!;
    const partial = norm.flatMap((n, id) => (n.includes(q) ? [id] : []));
    if (exact.length === 0 && partial.length === 1) return partial[0]!;
    const hits = exact.length > 0 ? exact : partial;
    if (hits.length > 1) throw new SampleError(`class name "${raw}" is ambiguous: ${hits.map((id) => `${id}: ${classNames[id]}`).join("; ")}. Use a fuller name or the class id.`);
    throw new SampleError(`unknown class name "${raw}". Nearest: ${nearestNames(raw, classNames).join("; ")}.`);
  }
  if (numClasses === IMAGENET_CLASSES.length) {
    try {
      return findClass(raw);
    } catch (e) {
      throw new SampleError(e instanceof Error ? e.message : String(e));
    }
  }
  throw new SampleError(`class "${raw}": this model has no class names (${numClasses} classes); give a class id 0..${numClasses - 1}`);
}

/**
 * The label of each of `numSamples` images: image i gets classes[i mod K]
 * when classes are given; otherwise labels are uniform over 0..numClasses−1,
 * drawn from Rng(seed) in image order (so independent of the batch size).
 */
export function sampleLabels(numSamples: number, numClasses: number, classes: readonly number[] | undefined, seed: number): Int32Array {
  if (classes && classes.length > 0) return Int32Array.from({ length: numSamples }, (_, i) => classes[i % classes.length]!);
  return new Rng(seed).ints(numSamples, Math.max(1, numClasses));
}
