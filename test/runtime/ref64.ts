/**
 * Float64 plain-JavaScript references for the lowering tests: values and
 * analytic reverse-mode gradients (cotangent `w` of the output), written
 * independently of jax-js and of the lowering.
 */

/** A float64 host array with a shape (C order). */
export interface Ref {
  data: Float64Array;
  shape: number[];
}

/** Float64 copy of anything with `data` and `shape` (a Tensor, a Ref). */
export function f64(t: { data: ArrayLike<number>; shape: readonly number[] }): Ref {
  return { data: Float64Array.from(t.data), shape: [...t.shape] };
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Numpy broadcasting of shapes (right-aligned). */
export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const n = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 1;
    for (const s of shapes) {
      const x = s[s.length - n + i] ?? 1;
      if (x !== 1 && d !== 1 && x !== d) throw new Error(`cannot broadcast [${shapes.map((s) => `[${s}]`).join(", ")}]`);
      if (x !== 1) d = x;
    }
    out.push(d);
  }
  return out;
}

/** For each flat index of `outShape`, the flat index of `inShape` that broadcasts to it. */
export function broadcastIndex(outShape: readonly number[], inShape: readonly number[]): Int32Array {
  const n = outShape.length;
  const k = n - inShape.length;
  const inStrides: number[] = Array<number>(n).fill(0);
  let s = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    inStrides[i + k] = inShape[i] === 1 ? 0 : s;
    s *= inShape[i]!;
  }
  const total = size(outShape);
  const map = new Int32Array(total);
  const idx = Array<number>(n).fill(0);
  for (let o = 0; o < total; o++) {
    let flat = 0;
    for (let i = 0; i < n; i++) flat += idx[i]! * inStrides[i]!;
    map[o] = flat;
    for (let i = n - 1; i >= 0; i--) {
      if (++idx[i]! < outShape[i]!) break;
      idx[i] = 0;
    }
  }
  return map;
}

export interface WithGrads {
  value: Ref;
  grads: Ref[];
}

/**
 * Elementwise op with numpy broadcasting. `df` returns ∂f/∂xᵢ; with a
 * cotangent `w` (shape of the output), grads are summed over broadcast axes.
 */
export function elementwise64(
  ins: Ref[],
  f: (...x: number[]) => number,
  df?: (...x: number[]) => number[],
  w?: Ref,
): WithGrads {
  const shape = broadcastShape(...ins.map((r) => r.shape));
  const maps = ins.map((r) => broadcastIndex(shape, r.shape));
  const value = new Float64Array(size(shape));
  const grads = ins.map((r) => new Float64Array(r.data.length));
  for (let o = 0; o < value.length; o++) {
    const xs = ins.map((r, k) => r.data[maps[k]![o]!]!);
    value[o] = f(...xs);
    if (df && w) {
      const d = df(...xs);
      ins.forEach((_, k) => (grads[k]![maps[k]![o]!]! += w.data[o]! * d[k]!));
    }
  }
  return { value: { data: value, shape }, grads: grads.map((g, k) => ({ data: g, shape: [...ins[k]!.shape] })) };
}

/** `x` broadcast to `shape` (materialised). */
export function broadcastTo64(x: Ref, shape: number[]): Ref {
  const map = broadcastIndex(shape, x.shape);
  return { data: Float64Array.from(map, (i) => x.data[i]!), shape: [...shape] };
}

/** Numpy `matmul` (1-D operands, broadcast batch axes) with gradients for both operands. */
export function matmul64(a: Ref, b: Ref, w?: Ref): WithGrads {
  const aVec = a.shape.length === 1;
  const bVec = b.shape.length === 1;
  const as = aVec ? [1, a.shape[0]!] : a.shape;
  const bs = bVec ? [b.shape[0]!, 1] : b.shape;
  const M = as[as.length - 2]!;
  const K = as[as.length - 1]!;
  const N = bs[bs.length - 1]!;
  if (bs[bs.length - 2] !== K) throw new Error(`matmul64: contraction ${K} vs ${bs[bs.length - 2]}`);
  const batch = broadcastShape(as.slice(0, -2), bs.slice(0, -2));
  const aMap = broadcastIndex(batch, as.slice(0, -2));
  const bMap = broadcastIndex(batch, bs.slice(0, -2));
  const out = new Float64Array(size(batch) * M * N);
  const da = new Float64Array(a.data.length);
  const db = new Float64Array(b.data.length);
  for (let bi = 0; bi < size(batch); bi++) {
    const ao = aMap[bi]! * M * K;
    const bo = bMap[bi]! * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const o = (bi * M + i) * N + j;
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[ao + i * K + k]! * b.data[bo + k * N + j]!;
        out[o] = s;
        if (w) {
          const g = w.data[o]!;
          for (let k = 0; k < K; k++) {
            da[ao + i * K + k]! += g * b.data[bo + k * N + j]!;
            db[bo + k * N + j]! += g * a.data[ao + i * K + k]!;
          }
        }
      }
    }
  }
  const shape = [...batch, ...(aVec ? [] : [M]), ...(bVec ? [] : [N])];
  return { value: { data: out, shape }, grads: [{ data: da, shape: [...a.shape] }, { data: db, shape: [...b.shape] }] };
}

/** Transpose of a 2-D array. */
export function transpose2d64(x: Ref): Ref {
  const [r, c] = x.shape as [number, number];
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x.data[i * c + j]!;
  return { data: out, shape: [c, r] };
}

/** Flat input indices grouped by output element, for a reduction over `axes`. */
function reductionGroups(shape: number[], axes: number[]): { outShape: number[]; groups: number[][] } {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const groups: number[][] = Array.from({ length: size(outShape) }, () => []);
  const idx = Array<number>(shape.length).fill(0);
  for (let f = 0; f < size(shape); f++) {
    let o = 0;
    shape.forEach((d, i) => {
      if (!axes.includes(i)) o = o * d + idx[i]!;
    });
    groups[o]!.push(f);
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
  return { outShape, groups };
}

export type ReduceOp = "sum" | "mean" | "max" | "min" | "prod";

/** Reduction over `axes` (no keepdims); max/min gradients assume a unique extremum. */
export function reduce64(x: Ref, axes: number[], op: ReduceOp, w?: Ref): WithGrads {
  const { outShape, groups } = reductionGroups(x.shape, axes);
  const value = new Float64Array(groups.length);
  const grad = new Float64Array(x.data.length);
  groups.forEach((g, o) => {
    const xs = g.map((i) => x.data[i]!);
    const wo = w ? w.data[o]! : 0;
    if (op === "sum" || op === "mean") {
      const scale = op === "mean" ? 1 / g.length : 1;
      value[o] = xs.reduce((a, b) => a + b, 0) * scale;
      for (const i of g) grad[i] = wo * scale;
    } else if (op === "max" || op === "min") {
      let best = 0;
      xs.forEach((v, k) => {
        if (op === "max" ? v > xs[best]! : v < xs[best]!) best = k;
      });
      value[o] = xs[best]!;
      grad[g[best]!] = wo;
    } else {
      value[o] = xs.reduce((a, b) => a * b, 1);
      g.forEach((i, k) => (grad[i] = wo * xs.reduce((a, b, j) => (j === k ? a : a * b), 1)));
    }
  });
  return { value: { data: value, shape: outShape }, grads: [{ data: grad, shape: [...x.shape] }] };
}

/** Softmax over one axis; gradient yᵢ(wᵢ − Σⱼ yⱼwⱼ). */
export function softmax64(x: Ref, axis: number, w?: Ref): WithGrads {
  const { groups } = reductionGroups(x.shape, [axis]);
  const y = new Float64Array(x.data.length);
  const grad = new Float64Array(x.data.length);
  for (const g of groups) {
    const m = Math.max(...g.map((i) => x.data[i]!));
    const e = g.map((i) => Math.exp(x.data[i]! - m));
    const s = e.reduce((a, b) => a + b, 0);
    g.forEach((i, k) => (y[i] = e[k]! / s));
    if (w) {
      const yw = g.reduce((a, i) => a + y[i]! * w.data[i]!, 0);
      for (const i of g) grad[i] = y[i]! * (w.data[i]! - yw);
    }
  }
  return { value: { data: y, shape: [...x.shape] }, grads: [{ data: grad, shape: [...x.shape] }] };
}

/** LayerNorm over the last axis without affine; gradient (w − mean w − y·mean(w·y))/σ. */
export function layerNorm64(x: Ref, eps: number, w?: Ref): WithGrads {
  const d = x.shape[x.shape.length - 1]!;
  const y = new Float64Array(x.data.length);
  const grad = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / d; r++) {
    const row = x.data.subarray(r * d, (r + 1) * d);
    const mu = row.reduce((a, b) => a + b, 0) / d;
    const v = row.reduce((a, b) => a + (b - mu) * (b - mu), 0) / d;
    const sigma = Math.sqrt(v + eps);
    for (let k = 0; k < d; k++) y[r * d + k] = (row[k]! - mu) / sigma;
    if (w) {
      let mw = 0;
      let mwy = 0;
      for (let k = 0; k < d; k++) {
        mw += w.data[r * d + k]! / d;
        mwy += (w.data[r * d + k]! * y[r * d + k]!) / d;
      }
      for (let k = 0; k < d; k++) grad[r * d + k] = (w.data[r * d + k]! - mw - y[r * d + k]! * mwy) / sigma;
    }
  }
  return { value: { data: y, shape: [...x.shape] }, grads: [{ data: grad, shape: [...x.shape] }] };
}

/**
 * erf in float64: 2/√π · e^(−x²) · Σ 2ⁿx^(2n+1) / (1·3···(2n+1)), a series of
 * positive terms (no cancellation); ±1 beyond |x| = 6.
 */
export function erf64(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}
