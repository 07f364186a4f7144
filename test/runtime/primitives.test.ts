/**
 * Every primitive the lowering handles, on fresh seeded inputs, for values and
 * gradients: against float64 plain-JS references where those are easy
 * (elementwise ops, reductions, dot, softmax, layer norm; relErr ≤ 1e-5) and
 * against jax-js eager otherwise (shape ops, compare/where/cast, integer ops;
 * relErr ≤ 1e-4). Also the lazy-broadcast machinery, jit inlining, the fused
 * ops, and error behaviour.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { grad, jit, lax, nn, numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { compile } from "../../src/runtime/compile.js";
import { LoweringError } from "../../src/runtime/lower.js";
import { spec, Tensor } from "../../src/runtime/tensor.js";
import { setupJax, type Rng } from "../helpers.js";
import {
  asFloat64,
  assertClose,
  checkVsEager,
  checkVsF64,
  lowerGraph,
  ops,
  randn,
  rngFor,
  runCompiled,
  tensor,
  valueAndGrads,
  type Fn,
  type J,
} from "./harness.js";
import {
  broadcastTo64,
  elementwise64,
  erf64,
  f64,
  layerNorm64,
  matmul64,
  reduce64,
  softmax64,
  transpose2d64,
  type ReduceOp,
  type Ref,
  type WithGrads,
} from "./ref64.js";

before(async () => {
  await setupJax();
});

// ---------------------------------------------------------------------------
// Input generators
type Gen = (rng: Rng, shape: number[]) => Tensor;
const normal =
  (scale = 1): Gen =>
  (rng, shape) =>
    randn(rng, shape, scale);
const uniform =
  (lo: number, hi: number): Gen =>
  (rng, shape) =>
    new Tensor(rng.uniforms(shape.reduce((a, b) => a * b, 1), lo, hi), shape);
/** |x| in [0.5, 2) with a random sign: safe for reciprocals and products. */
const awayFromZero: Gen = (rng, shape) => {
  const t = uniform(0.5, 2)(rng, shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) if (rng.uniform() < 0.5) d[i] = -d[i]!;
  return t;
};
/** Small integers as floats, so that comparisons see ties. */
const smallInts: Gen = (rng, shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from(rng.ints(n, 5), (v) => v - 2), shape);
};

// jax-js writes the tanh-GELU constants as float32 literals (in float64 graphs too)
const SQRT_2_PI = Math.fround(Math.sqrt(2 / Math.PI));
const GELU_C = Math.fround(0.044715);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const normPdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

// ---------------------------------------------------------------------------
interface UnaryCase {
  name: string;
  f: Fn;
  ref: (x: number) => number;
  d: (x: number) => number;
  gen?: Gen;
  /** A native ONNX op the forward graph must contain (fusions). */
  fused?: string;
}

const UNARY_CASES: UnaryCase[] = [
  { name: "neg", f: (x) => np.negative(x), ref: (x) => -x, d: () => -1 },
  { name: "reciprocal", f: (x) => np.reciprocal(x), ref: (x) => 1 / x, d: (x) => -1 / (x * x), gen: awayFromZero },
  { name: "exp", f: (x) => np.exp(x), ref: Math.exp, d: Math.exp },
  { name: "log", f: (x) => np.log(x), ref: Math.log, d: (x) => 1 / x, gen: uniform(0.2, 3) },
  { name: "sqrt", f: (x) => np.sqrt(x), ref: Math.sqrt, d: (x) => 0.5 / Math.sqrt(x), gen: uniform(0.2, 3) },
  { name: "sin", f: (x) => np.sin(x), ref: Math.sin, d: Math.cos, gen: normal(2) },
  { name: "cos", f: (x) => np.cos(x), ref: Math.cos, d: (x) => -Math.sin(x), gen: normal(2) },
  { name: "asin", f: (x) => np.asin(x), ref: Math.asin, d: (x) => 1 / Math.sqrt(1 - x * x), gen: uniform(-0.9, 0.9) },
  { name: "atan", f: (x) => np.atan(x), ref: Math.atan, d: (x) => 1 / (1 + x * x), gen: normal(2) },
  { name: "floor", f: (x) => np.floor(x), ref: Math.floor, d: () => 0, gen: normal(3) },
  { name: "ceil", f: (x) => np.ceil(x), ref: Math.ceil, d: () => 0, gen: normal(3) },
  { name: "erf", f: (x) => lax.erf(x), ref: erf64, d: (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) },
  { name: "erfc", f: (x) => lax.erfc(x), ref: (x) => 1 - erf64(x), d: (x) => (-2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) },
  { name: "stop_gradient", f: (x) => lax.stopGradient(x), ref: (x) => x, d: () => 0 },
  { name: "square (mul x x)", f: (x) => np.square(x), ref: (x) => x * x, d: (x) => 2 * x },
  { name: "abs (compare, where, literal mul)", f: (x) => np.abs(x), ref: Math.abs, d: (x) => Math.sign(x) },
  { name: "add literal", f: (x) => x.add(1.5), ref: (x) => x + 1.5, d: () => 1 },
  { name: "mul literal", f: (x) => x.mul(-2.5), ref: (x) => -2.5 * x, d: () => -2.5 },
  { name: "relu (max with literal)", f: (x) => nn.relu(x), ref: (x) => Math.max(x, 0), d: (x) => (x > 0 ? 1 : 0) },
  { name: "clip (min, max with literals)", f: (x) => np.clip(x, -0.5, 0.7), ref: (x) => Math.min(Math.max(x, -0.5), 0.7), d: (x) => (x > -0.5 && x < 0.7 ? 1 : 0) },
  { name: "sigmoid (unfused decomposition)", f: (x) => nn.sigmoid(x), ref: sigmoid, d: (x) => sigmoid(x) * (1 - sigmoid(x)) },
  { name: "tanh (fused)", f: (x) => np.tanh(x), ref: Math.tanh, d: (x) => 1 - Math.tanh(x) ** 2, fused: "Tanh" },
  {
    name: "gelu tanh approximation (fused)",
    f: (x) => nn.gelu(x, { approximate: true }),
    ref: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_PI * (x + GELU_C * x ** 3))),
    d: (x) => {
      const t = Math.tanh(SQRT_2_PI * (x + GELU_C * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_PI * (1 + 3 * GELU_C * x * x);
    },
    gen: normal(2),
    fused: "Gelu",
  },
  {
    name: "gelu exact (fused)",
    f: (x) => nn.gelu(x, { approximate: false }),
    ref: (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)),
    d: (x) => 0.5 * (1 + erf64(x / Math.SQRT2)) + x * normPdf(x),
    gen: normal(2),
    fused: "Gelu",
  },
  {
    name: "silu (fused)",
    f: (x) => nn.silu(x),
    ref: (x) => x * sigmoid(x),
    d: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))),
    gen: normal(2),
    fused: "Sigmoid",
  },
];

describe("elementwise unary ops", () => {
  for (const c of UNARY_CASES) {
    it(`${c.name}: value and grad vs float64`, async () => {
      const x = (c.gen ?? normal())(rngFor(c.name), [3, 5]);
      const ref = ([x]: Ref[], w?: Ref) => elementwise64([x!], c.ref, (v) => [c.d(v)], w);
      await checkVsF64(c.name, c.f, [x], ref);
    });
  }

  it("tanh, gelu (both forms), silu: the forward graph holds the native op", async () => {
    for (const c of UNARY_CASES.filter((u) => u.fused)) {
      const g = await lowerGraph((x: J) => c.f(x), spec([2, 3]));
      assert.ok(ops(g).includes(c.fused!), `${c.name}: ${c.fused} missing in ${ops(g).join(" ")}`);
      assert.ok(!ops(g).includes("Exp") && !ops(g).includes("Erf"), `${c.name}: decomposition left in ${ops(g).join(" ")}`);
    }
    const approx = await lowerGraph((x: J) => nn.gelu(x, { approximate: true }), spec([2, 3]));
    const exact = await lowerGraph((x: J) => nn.gelu(x, { approximate: false }), spec([2, 3]));
    assert.equal(approx.nodes.find((n) => n.op === "Gelu")!.attrs.approximate, "tanh");
    assert.equal(exact.nodes.find((n) => n.op === "Gelu")!.attrs.approximate, undefined);
  });

  it("tanh, gelu (both forms), silu: value-and-grad graphs hold the native op, and the backward is recomputed from x", async () => {
    for (const c of UNARY_CASES.filter((u) => u.fused)) {
      const g = await lowerGraph(valueAndGrads(c.f), [spec([2, 3])], spec([2, 3]));
      const o = ops(g);
      assert.ok(o.includes(c.fused!), `${c.name}: ${c.fused} missing in ${o.join(" ")}`);
      // jax-js's transposed jvp (tanh through exp, sign via compare/where, reciprocal) is gone
      for (const dead of ["Where", "Less", "Reciprocal"]) assert.ok(!o.includes(dead), `${c.name}: ${dead} left in ${o.join(" ")}`);
      assert.ok(o.length <= 30, `${c.name}: ${o.length} nodes: ${o.join(" ")}`);
    }
  });

  it("tanh, gelu (both forms), silu: valueAndGrad's value (the fused jvp's primal output) and gradient vs float64", async () => {
    for (const c of UNARY_CASES.filter((u) => u.fused)) {
      const rng = rngFor(`${c.name} valueAndGrad`);
      const x = (c.gen ?? normal())(rng, [3, 5]);
      const w = normal()(rng, [3, 5]);
      const [value, gx] = await runCompiled(valueAndGrad((xx: J, ww: J) => np.sum(c.f(xx).mul(ww))), x, w);
      let want = 0;
      for (let i = 0; i < 15; i++) want += c.ref(x.data[i] as number) * (w.data[i] as number);
      assert.ok(Math.abs((value!.data[0] as number) - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${c.name}: value ${value!.data[0]} vs ${want}`);
      for (let i = 0; i < 15; i++) {
        const d = c.d(x.data[i] as number) * (w.data[i] as number);
        assert.ok(Math.abs((gx!.data[i] as number) - d) <= 1e-5 * Math.max(1, Math.abs(d)), `${c.name}: grad[${i}] ${gx!.data[i]} vs ${d}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------
interface BinaryCase {
  name: string;
  f: Fn;
  ref: (x: number, y: number) => number;
  d: (x: number, y: number) => number[];
  genY?: Gen;
}

const BINARY_CASES: BinaryCase[] = [
  { name: "add", f: (x, y) => x.add(y), ref: (x, y) => x + y, d: () => [1, 1] },
  { name: "sub (neg + add)", f: (x, y) => x.sub(y), ref: (x, y) => x - y, d: () => [1, -1] },
  { name: "mul", f: (x, y) => x.mul(y), ref: (x, y) => x * y, d: (x, y) => [y, x] },
  { name: "div (reciprocal + mul)", f: (x, y) => x.div(y), ref: (x, y) => x / y, d: (x, y) => [1 / y, -x / (y * y)], genY: awayFromZero },
  { name: "min", f: (x, y) => np.minimum(x, y), ref: Math.min, d: (x, y) => (x < y ? [1, 0] : [0, 1]) },
  { name: "max", f: (x, y) => np.maximum(x, y), ref: Math.max, d: (x, y) => (x > y ? [1, 0] : [0, 1]) },
];

const BINARY_SHAPES: [number[], number[]][] = [
  [[3, 4], [3, 4]],
  [[3, 4], [4]],
  [[3, 1], [1, 4]],
  [[2, 3, 4], [3, 1]],
  [[], [2, 3]],
];

describe("elementwise binary ops", () => {
  for (const c of BINARY_CASES) {
    for (const [sx, sy] of BINARY_SHAPES) {
      const name = `${c.name} [${sx}] x [${sy}]`;
      it(`${name}: value and grads vs float64`, async () => {
        const rng = rngFor(name);
        const x = randn(rng, sx);
        const y = (c.genY ?? normal())(rng, sy);
        const ref = ([a, b]: Ref[], w?: Ref) => elementwise64([a!, b!], c.ref, c.d, w);
        await checkVsF64(name, c.f, [x, y], ref);
      });
    }
  }
});

// ---------------------------------------------------------------------------
describe("compare, where, cast", () => {
  const compares: [string, Fn, (a: number, b: number) => boolean][] = [
    ["less", (x, y) => np.less(x, y), (a, b) => a < b],
    ["less_equal", (x, y) => np.lessEqual(x, y), (a, b) => a <= b],
    ["equal", (x, y) => np.equal(x, y), (a, b) => a === b],
    ["not_equal", (x, y) => np.notEqual(x, y), (a, b) => a !== b],
    ["greater (swapped less)", (x, y) => np.greater(x, y), (a, b) => a > b],
    ["greater_equal (swapped less_equal)", (x, y) => np.greaterEqual(x, y), (a, b) => a >= b],
  ];
  for (const [name, f, pred] of compares) {
    it(`compare ${name}: value vs jax-js eager (with ties and broadcasting)`, async () => {
      const rng = rngFor(name);
      const x = smallInts(rng, [3, 4]);
      const y = smallInts(rng, [4]);
      const [got] = await checkVsEager(`compare ${name}`, f, [x, y], { differentiable: false });
      assert.equal(got!.dtype, "bool");
      // and directly against the predicate, so that a shared jax-js bug cannot hide
      const want = Array.from({ length: 12 }, (_, i) => (pred(x.data[i]!, y.data[i % 4]!) ? 1 : 0));
      assert.deepEqual(Array.from(got!.data), want);
    });
  }

  it("compare on int32 inputs: value vs jax-js eager", async () => {
    const rng = rngFor("compare int32");
    const x = new Tensor(rng.ints(12, 5), [3, 4]);
    const y = new Tensor(rng.ints(4, 5), [4]);
    await checkVsEager("compare int32", (a: J, b: J) => np.less(a, b), [x, y], { differentiable: false });
  });

  it("where: value and grads vs jax-js eager", async () => {
    const rng = rngFor("where");
    const c = smallInts(rng, [3, 4]);
    const x = randn(rng, [3, 4]);
    const y = randn(rng, [3, 4]);
    await checkVsEager("where", (cc: J, a: J, b: J) => np.where(np.less(cc, 0), a, b), [c, x, y]);
  });

  it("where with a broadcast condition and a literal branch: value and grad vs jax-js eager", async () => {
    const rng = rngFor("where bcast");
    const c = smallInts(rng, [3, 1]);
    const x = randn(rng, [3, 4]);
    await checkVsEager("where bcast", (cc: J, a: J) => np.where(np.less(cc, 0), a, 0.25), [c, x]);
  });

  it("where with a bool input: value vs jax-js eager", async () => {
    const rng = rngFor("where bool input");
    const c = new Tensor(Uint8Array.from(rng.ints(12, 2)), [3, 4]);
    const x = randn(rng, [3, 4]);
    const y = randn(rng, [4]);
    await checkVsEager("where bool input", (cc: J, a: J, b: J) => np.where(cc, a, b), [c, x, y], { differentiable: false });
  });

  const casts: [string, string, Gen][] = [
    ["float32 -> int32 (truncation)", "int32", normal(3)],
    ["float32 -> bool", "bool", smallInts],
    ["float32 -> uint32", "uint32", uniform(0, 50)],
    ["int32 -> float32", "float32", (rng, shape) => new Tensor(Int32Array.from(rng.ints(12, 100), (v) => v - 50), shape)],
    ["bool -> float32", "float32", (rng, shape) => new Tensor(Uint8Array.from(rng.ints(12, 2)), shape)],
    ["bool -> int32", "int32", (rng, shape) => new Tensor(Uint8Array.from(rng.ints(12, 2)), shape)],
  ];
  for (const [name, to, gen] of casts) {
    it(`cast ${name}: value vs jax-js eager`, async () => {
      const x = gen(rngFor(`cast ${name}`), [3, 4]);
      const [got] = await checkVsEager(`cast ${name}`, (a: J) => a.astype(to as never), [x], { differentiable: false });
      assert.equal(got!.dtype, to);
    });
  }

  it("cast inside a differentiated function (float -> int -> float is a constant): grad vs jax-js eager", async () => {
    const x = normal(3)(rngFor("cast grad"), [3, 4]);
    await checkVsEager("cast grad", (a: J) => a.ref.mul(a.astype(np.int32).astype(np.float32)), [x]);
  });
});

// ---------------------------------------------------------------------------
describe("integer ops", () => {
  const ints = (rng: Rng, shape: number[], lo: number, hi: number, nonzero = false) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Int32Array.from(rng.ints(n, hi - lo), (k) => k + lo);
    if (nonzero) for (let i = 0; i < n; i++) if (v[i] === 0) v[i] = 1;
    return new Tensor(v, shape);
  };
  const cases: [string, Fn][] = [
    ["idiv (floorDivide)", (a, b) => np.floorDivide(a, b)],
    ["mod (remainder: mod, add, mod in a jit)", (a, b) => np.remainder(a, b)],
    ["mod and idiv (fmod)", (a, b) => np.fmod(a, b)],
    ["integer add, mul, neg, max", (a, b) => np.maximum(a.ref.mul(b.ref).sub(a), b)],
  ];
  for (const [name, f] of cases) {
    it(`${name} on int32 with negative operands: value vs jax-js eager`, async () => {
      const rng = rngFor(name);
      const a = ints(rng, [4, 5], -20, 20);
      const b = ints(rng, [5], -6, 6, true);
      const [got] = await checkVsEager(name, f, [a, b], { differentiable: false, tol: 0 });
      assert.equal(got!.dtype, "int32");
    });
  }

  it("np.remainder on float32 (Python semantics: sign of the divisor) vs float64", async () => {
    const a = Float32Array.of(7.5, -7.5, 2.25, -0.5, 9, -9);
    const b = Float32Array.of(2, 2, -1.5, 0.3, -4, 4);
    const got = (await compile((x: J, y: J) => np.remainder(x, y))(new Tensor(a, [6]), new Tensor(b, [6]))) as Tensor;
    for (let i = 0; i < 6; i++) {
      const want = a[i]! - Math.floor(a[i]! / b[i]!) * b[i]!;
      assert.ok(Math.abs(got.data[i]! - want) < 1e-6, `remainder(${a[i]}, ${b[i]}) = ${got.data[i]}, want ${want}`);
    }
  });

  it("int32 sum and max reductions: value vs jax-js eager", async () => {
    const a = ints(rngFor("int reduce"), [3, 4], -9, 9);
    await checkVsEager("int sum", (x: J) => np.sum(x, 1), [a], { differentiable: false, tol: 0 });
    await checkVsEager("int max", (x: J) => np.max(x, 0), [a], { differentiable: false, tol: 0 });
  });

  for (const [name, sa, sb] of [
    ["2-D", [3, 4], [4, 2]],
    ["batched", [2, 3, 4], [2, 4, 2]],
  ] as [string, number[], number[]][]) {
    it(`int32 matmul ${name}: value vs jax-js eager`, async () => {
      const rng = rngFor(`int matmul ${name}`);
      const a = ints(rng, sa, -5, 5);
      const b = ints(rng, sb, -5, 5);
      const [got] = await checkVsEager(`int matmul ${name}`, (x: J, y: J) => np.matmul(x, y), [a, b], { differentiable: false, tol: 0 });
      assert.equal(got!.dtype, "int32");
    });
  }
});

describe("mixed operand dtypes (jax-js promotes inside its primitives)", () => {
  const cases: { name: string; f: Fn; differentiable?: boolean }[] = [
    { name: "add float32 + int32 array", f: (x) => x.add(np.array([1, -2, 3, 4], { dtype: np.int32 })) },
    { name: "mul float32 * arange", f: (x) => x.mul(np.arange(4)) },
    { name: "max float32, arange", f: (x) => np.maximum(x, np.arange(4).sub(2)) },
    { name: "compare float32 < arange", f: (x) => np.less(x, np.arange(4).sub(2)), differentiable: false },
    { name: "where with an int32 branch", f: (x) => np.where(np.less(x.ref, 0), x, np.arange(4)) },
    { name: "concatenate float32 and arange", f: (x) => np.concatenate([x, np.arange(4).reshape([1, 4])], 0) },
    { name: "dot float32 @ arange", f: (x) => np.matmul(x, np.arange(4)) },
  ];
  for (const c of cases) {
    it(`${c.name}: value${c.differentiable === false ? "" : " and grad"} vs jax-js eager`, async () => {
      await checkVsEager(c.name, c.f, [randn(rngFor(c.name), [3, 4], 2)], { differentiable: c.differentiable });
    });
  }
});

// ---------------------------------------------------------------------------
interface ReduceCase {
  name: string;
  shape: number[];
  op: ReduceOp;
  axes: number[];
  f: Fn;
  keepdims?: boolean;
  gen?: Gen;
}

const REDUCE_CASES: ReduceCase[] = [
  { name: "sum axis 1", shape: [3, 4], op: "sum", axes: [1], f: (x) => np.sum(x, 1) },
  { name: "sum axes (0, 2)", shape: [2, 3, 4], op: "sum", axes: [0, 2], f: (x) => np.sum(x, [0, 2]) },
  { name: "sum all", shape: [2, 3, 4], op: "sum", axes: [0, 1, 2], f: (x) => np.sum(x) },
  { name: "sum axis 0 keepdims", shape: [3, 4], op: "sum", axes: [0], f: (x) => np.sum(x, 0, { keepdims: true }), keepdims: true },
  { name: "mean axis -1", shape: [2, 3, 5], op: "mean", axes: [2], f: (x) => np.mean(x, -1) },
  { name: "mean axes (0, 1)", shape: [2, 3, 5], op: "mean", axes: [0, 1], f: (x) => np.mean(x, [0, 1]) },
  { name: "max axis 1", shape: [3, 5], op: "max", axes: [1], f: (x) => np.max(x, 1) },
  { name: "max all", shape: [3, 5], op: "max", axes: [0, 1], f: (x) => np.max(x) },
  { name: "min axis 0", shape: [4, 3], op: "min", axes: [0], f: (x) => np.min(x, 0) },
  { name: "prod axis 1", shape: [3, 4], op: "prod", axes: [1], f: (x) => np.prod(x, 1), gen: awayFromZero },
  { name: "prod axes (0, 2)", shape: [2, 2, 3], op: "prod", axes: [0, 2], f: (x) => np.prod(x, [0, 2]), gen: awayFromZero },
];

describe("reductions", () => {
  for (const c of REDUCE_CASES) {
    it(`reduce ${c.name}: value and grad vs float64`, async () => {
      const x = (c.gen ?? normal())(rngFor(`reduce ${c.name}`), c.shape);
      const ref = ([v]: Ref[], w?: Ref): WithGrads => {
        const r = reduce64(v!, c.axes, c.op, w); // (w is read in flat order: keepdims does not matter)
        return c.keepdims ? { value: { ...r.value, shape: c.shape.map((d, i) => (c.axes.includes(i) ? 1 : d)) }, grads: r.grads } : r;
      };
      await checkVsF64(`reduce ${c.name}`, c.f, [x], ref);
    });
  }
});

// ---------------------------------------------------------------------------
interface DotCase {
  name: string;
  sa: number[];
  sb: number[];
  f: Fn;
  ref?: (a: Ref, b: Ref, w?: Ref) => WithGrads;
  /** false where jax-js itself cannot differentiate the case. */
  differentiable?: boolean;
}

const T2 = (r: Ref) => transpose2d64(r);
const DOT_CASES: DotCase[] = [
  { name: "matmul 2-D", sa: [3, 4], sb: [4, 5], f: (a, b) => np.matmul(a, b) },
  { name: "matmul batched", sa: [2, 3, 4], sb: [2, 4, 5], f: (a, b) => np.matmul(a, b) },
  { name: "matmul broadcast batch [2,1,3,4] @ [1,3,4,5]", sa: [2, 1, 3, 4], sb: [1, 3, 4, 5], f: (a, b) => np.matmul(a, b) },
  { name: "matmul 3-D @ 2-D (shared weight)", sa: [2, 3, 4], sb: [4, 5], f: (a, b) => np.matmul(a, b) },
  { name: "matvec", sa: [3, 4], sb: [4], f: (a, b) => np.matmul(a, b) },
  { name: "vecmat", sa: [4], sb: [4, 5], f: (a, b) => np.matmul(a, b) },
  { name: "vector dot", sa: [6], sb: [6], f: (a, b) => np.dot(a, b) },
  { name: "np.dot 2-D", sa: [3, 4], sb: [4, 2], f: (a, b) => np.dot(a, b) },
  {
    name: "linear x @ W.T (Gemm transB)",
    sa: [3, 4],
    sb: [5, 4],
    f: (a, b) => np.matmul(a, b.transpose()),
    ref: (a, b, w) => {
      const r = matmul64(a, T2(b), w);
      return { value: r.value, grads: [r.grads[0]!, T2(r.grads[1]!)] };
    },
  },
  {
    name: "W.T @ x (Gemm transA)",
    sa: [4, 3],
    sb: [4, 5],
    f: (a, b) => np.matmul(a.transpose(), b),
    ref: (a, b, w) => {
      const r = matmul64(T2(a), b, w);
      return { value: r.value, grads: [T2(r.grads[0]!), r.grads[1]!] };
    },
  },
  { name: "matmul with K = 1 (outer product)", sa: [3, 1], sb: [1, 4], f: (a, b) => np.matmul(a, b) },
];

describe("dot", () => {
  // jax-js 0.1.25 gets numpy's batch broadcasting wrong when the operands' ranks
  // differ and the lower-rank one is on the left ([3,4] @ [2,4,5] gives [3,2,5])
  // and cannot differentiate it: values against jax-js eager only.
  for (const [sa, sb] of [
    [[3, 4], [2, 4, 5]],
    [[2, 1, 3, 4], [3, 4, 5]],
  ]) {
    const name = `matmul [${sa}] @ [${sb}] (rank-broadcast batch)`;
    it(`${name}: value vs jax-js eager`, async () => {
      const rng = rngFor(name);
      await checkVsEager(name, (a: J, b: J) => np.matmul(a, b), [randn(rng, sa!), randn(rng, sb!)], { differentiable: false });
    });
  }

  for (const c of DOT_CASES) {
    it(`${c.name}: value${c.differentiable === false ? "" : " and grads"} vs float64`, async () => {
      const rng = rngFor(c.name);
      const a = randn(rng, c.sa);
      const b = randn(rng, c.sb);
      const ref = ([x, y]: Ref[], w?: Ref) => (c.ref ?? matmul64)(x!, y!, w);
      await checkVsF64(c.name, c.f, [a, b], ref, { differentiable: c.differentiable });
    });
  }
});

// ---------------------------------------------------------------------------
describe("shape ops (vs jax-js eager)", () => {
  const cases: { name: string; shapes: number[][]; f: Fn; differentiable?: boolean }[] = [
    { name: "reshape (split and merge axes)", shapes: [[2, 6]], f: (x) => x.reshape([3, 2, 2]).mul(2).reshape([12]) },
    { name: "reshape with unit axes (expandDims, squeeze)", shapes: [[3, 4]], f: (x) => np.squeeze(np.expandDims(x, 1).reshape([3, 1, 2, 2]), 1) },
    { name: "transpose 3-D", shapes: [[2, 3, 4]], f: (x) => np.transpose(x, [2, 0, 1]) },
    { name: "transpose of transpose (composition)", shapes: [[2, 3, 4]], f: (x) => np.transpose(np.transpose(x, [1, 2, 0]), [2, 1, 0]) },
    { name: "broadcastTo new and unit axes", shapes: [[3, 1]], f: (x) => np.broadcastTo(x, [2, 3, 4]) },
    { name: "shrink (slice)", shapes: [[4, 5]], f: (x) => x.slice([1, 3], [0, 4]) },
    { name: "shrink (integer index then range)", shapes: [[3, 4, 5]], f: (x) => x.slice(1, [1, 3]) },
    { name: "pad", shapes: [[3, 4]], f: (x) => np.pad(x, [[1, 2], [0, 1]]) },
    { name: "concatenate 3 inputs on axis 1", shapes: [[2, 3], [2, 1], [2, 4]], f: (a, b, c) => np.concatenate([a, b.mul(3), c], 1) },
    { name: "stack (reshape + concatenate)", shapes: [[3], [3]], f: (a, b) => np.stack([a, b], 1) },
    {
      name: "split unequal (each part weighted, then concatenated in another order)",
      shapes: [[3, 6]],
      f: (x) => {
        const [a, b, c] = np.split(x, [1, 4], 1);
        return np.concatenate([c!.mul(-1), a!.mul(2), b!], 1);
      },
    },
    { name: "flip one axis", shapes: [[3, 4]], f: (x) => np.flip(x, 1) },
    { name: "flip two axes", shapes: [[2, 3, 4]], f: (x) => np.flip(x, [0, 2]) },
  ];
  for (const c of cases) {
    it(`${c.name}: value and grad vs jax-js eager`, async () => {
      const rng = rngFor(c.name);
      await checkVsEager(c.name, c.f, c.shapes.map((s) => randn(rng, s)));
    });
  }

  it("split with several outputs: values vs jax-js eager", async () => {
    const x = randn(rngFor("split outputs"), [4, 6]);
    await checkVsEager("split outputs", (a: J) => np.split(a, [2, 3], 1), [x], { differentiable: false, tol: 0 });
  });

  const gathers: { name: string; xShape: number[]; idxShape: number[]; f: Fn; hi: number }[] = [
    { name: "take axis 0", xShape: [5, 3], idxShape: [4], f: (x, i) => np.take(x, i, 0), hi: 5 },
    { name: "take axis 1 with 2-D indices", xShape: [3, 4], idxShape: [2, 2], f: (x, i) => np.take(x, i, 1), hi: 4 },
    { name: "index x[:, i, :]", xShape: [2, 4, 3], idxShape: [5], f: (x, i) => x.slice([], i, []), hi: 4 },
    // an integer index before a slice splits the advanced indices: numpy puts the index dims first (outDim 0, axis 1)
    { name: "index x[1, :, i] (index dims moved to the front)", xShape: [3, 4, 5], idxShape: [2, 3], f: (x, i) => x.slice(1, [], i), hi: 5 },
    { name: "oneHot (gather from an eye constant)", xShape: [3], idxShape: [3], f: (_x, i) => nn.oneHot(i, 5), hi: 5 },
  ];
  for (const c of gathers) {
    it(`gather ${c.name}: value vs jax-js eager`, async () => {
      const rng = rngFor(c.name);
      const x = randn(rng, c.xShape);
      const idx = new Tensor(rng.ints(c.idxShape.reduce((a, b) => a * b, 1), c.hi), c.idxShape);
      await checkVsEager(c.name, c.f, [x, idx], { differentiable: false, tol: 0 });
    });
  }
});

// ---------------------------------------------------------------------------
describe("softmax and layer norm (fused)", () => {
  /** LayerNorm as users write it (the DiT model's form), ε = 1e-6. */
  const layerNorm = (x: J) => {
    const mu = np.mean(x.ref, -1, { keepdims: true });
    const xc = x.sub(mu);
    const v = np.mean(xc.ref.mul(xc.ref), -1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(v.add(1e-6))));
  };

  for (const [axis, shape] of [
    [-1, [2, 3, 5]],
    [0, [4, 3]],
    [1, [2, 4, 3]],
  ] as [number, number[]][]) {
    const name = `softmax axis ${axis} of [${shape}]`;
    it(`${name}: value and grad vs float64, fused to Softmax`, async () => {
      const x = randn(rngFor(name), shape, 2);
      const ax = axis < 0 ? shape.length + axis : axis;
      await checkVsF64(name, (v) => nn.softmax(v, axis), [x], ([v]: Ref[], w?: Ref) => softmax64(v!, ax, w));
      const g = await lowerGraph((v: J) => nn.softmax(v, axis), spec(shape));
      assert.ok(ops(g).includes("Softmax"), ops(g).join(" "));
      assert.ok(!ops(g).includes("Exp"), ops(g).join(" "));
    });
  }

  it("layer norm: value and grad vs float64, fused to LayerNormalization", async () => {
    const x = randn(rngFor("layer norm"), [2, 3, 8], 2);
    await checkVsF64("layer norm", layerNorm, [x], ([v]: Ref[], w?: Ref) => layerNorm64(v!, 1e-6, w));
    const g = await lowerGraph(layerNorm, spec([2, 3, 8]));
    assert.ok(ops(g).includes("LayerNormalization"), ops(g).join(" "));
    assert.ok(!ops(g).includes("Sqrt") && !ops(g).includes("ReduceSum"), ops(g).join(" "));
  });

  it("layer norm with shifted input (large mean): value vs float64", async () => {
    const x = randn(rngFor("layer norm shifted"), [3, 16]);
    for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i]! += 5;
    await checkVsF64("layer norm shifted", layerNorm, [x], ([v]: Ref[], w?: Ref) => layerNorm64(v!, 1e-6, w));
  });

  it("nn.standardize (not the fused pattern): value and grad vs float64", async () => {
    const x = randn(rngFor("standardize"), [3, 6], 2);
    await checkVsF64("standardize", (v) => nn.standardize(v, -1), [x], ([v]: Ref[], w?: Ref) => layerNorm64(v!, 1e-5, w));
  });
});

// ---------------------------------------------------------------------------
describe("jit inlining and constants", () => {
  it("user jit with two inputs (inlined): value and grads vs float64", async () => {
    const inner = jit((a: J, b: J) => a.ref.mul(b).add(np.sin(a)));
    const rng = rngFor("user jit");
    const x = randn(rng, [3, 4]);
    const y = randn(rng, [4]);
    await checkVsF64("user jit", (a, b) => inner(a, b), [x, y], ([a, b]: Ref[], w?: Ref) =>
      elementwise64([a!, b!], (u, v) => u * v + Math.sin(u), (u, v) => [v + Math.cos(u), u], w),
    );
    inner.dispose();
  });

  it("nested jits with a captured constant: value and grad vs float64", async () => {
    const cData = Float32Array.from([0.5, -1, 2, 0.25]);
    const c = np.array(cData);
    const innerMost = jit((a: J) => np.exp(a).mul(c.ref));
    const outer = jit((a: J) => innerMost(a.ref).add(a));
    const x = randn(rngFor("nested jit"), [3, 4]);
    const cRef: Ref = { data: Float64Array.from(cData), shape: [4] };
    await checkVsF64("nested jit", (a) => outer(a), [x], ([a]: Ref[], w?: Ref) => {
      const r = elementwise64([a!, cRef], (u, k) => Math.exp(u) * k + u, (u, k) => [Math.exp(u) * k + 1, 0], w);
      return { value: r.value, grads: [r.grads[0]!] };
    });
    outer.dispose();
    innerMost.dispose();
    c.dispose();
  });

  it("captured top-level constant and a gradient that is a constant zero: exact values", async () => {
    const rng = rngFor("closure const");
    const kData = randn(rng, [4]);
    const k = np.array(kData.data as Float32Array);
    // ∂/∂a Σ a·k = k (broadcast over rows); b is unused, so its gradient is a zero constant of the jaxpr
    const f = (p: { a: J; b: J }) => {
      p.b.dispose();
      return np.sum(p.a.mul(k.ref));
    };
    const args = { a: randn(rng, [3, 4]), b: randn(rng, [2]) };
    const got = await runCompiled(grad(f), args);
    const want = [
      { data: Array.from({ length: 12 }, (_, i) => kData.data[i % 4]!), shape: [3, 4] },
      { data: [0, 0], shape: [2] },
    ];
    assertClose(got, want, 0, "closure const");
    k.dispose();
  });
});

// ---------------------------------------------------------------------------
/** A float32 constant 0, 1, 2, … of the given shape (a real, non-broadcast operand). */
const ramp = (shape: number[]): J => np.arange(shape.reduce((a, b) => a * b, 1)).astype(np.float32).reshape(shape);

describe("lazy broadcasts (logical vs physical shapes)", () => {
  const sumMatmul64 = (x: Ref, W: Ref): Ref[] => {
    const ones = { data: new Float64Array(x.shape[0]! * W.shape[1]!).fill(1), shape: [x.shape[0]!, W.shape[1]!] };
    return matmul64(x, W, ones).grads;
  };

  it("grad of sum(matmul(x, W)) w.r.t. x and W (broadcast cotangent) vs float64", async () => {
    const rng = rngFor("grad sum matmul");
    const x = randn(rng, [3, 5]);
    const W = randn(rng, [5, 4]);
    const got = await runCompiled(grad((p: J[]) => np.sum(np.matmul(p[0]!, p[1]!))), [x, W]);
    assertClose(got, sumMatmul64(f64(x), f64(W)), 1e-5, "grad sum matmul");
  });

  it("grad of sum(matmul(x, W.T)) for batched x (broadcast cotangent, 3-D) vs float64", async () => {
    const rng = rngFor("grad sum matmul 3d");
    const x = randn(rng, [2, 3, 5]);
    const W = randn(rng, [4, 5]);
    const got = await runCompiled(grad((p: J[]) => np.sum(np.matmul(p[0]!, p[1]!.transpose()))), [x, W]);
    const x2 = { ...f64(x), shape: [6, 5] };
    const [gx, gWT] = sumMatmul64(x2, transpose2d64(f64(W)));
    assertClose(got, [{ ...gx!, shape: [2, 3, 5] }, transpose2d64(gWT!)], 1e-5, "grad sum matmul 3d");
  });

  it("no Expand in the gradient graph of a linear layer sum(matmul(x, W.T) * w)", async () => {
    const loss = (p: { x: J; W: J }, w: J) => np.sum(np.matmul(p.x, p.W.transpose()).mul(w));
    for (const xs of [[8, 16], [2, 8, 16]]) {
      const g = await lowerGraph(grad(loss), { x: spec(xs), W: spec([32, 16]) }, spec([...xs.slice(0, -1), 32]));
      assert.ok(!ops(g).includes("Expand"), `x [${xs}]: ${ops(g).join(" ")}`);
      // Without w, ∂x is a genuinely broadcast value (equal rows): Expand only materialises the outputs.
      const g2 = await lowerGraph(grad((p: { x: J; W: J }) => np.sum(np.matmul(p.x, p.W.transpose()))), { x: spec(xs), W: spec([32, 16]) });
      const outputs = new Set(g2.outputs.map((o) => o.name));
      for (const n of g2.nodes.filter((m) => m.op === "Expand")) {
        const users = g2.nodes.filter((m) => m.inputs.includes(n.outputs[0]!));
        assert.ok(users.every((u) => u.op === "Identity" && outputs.has(u.outputs[0]!)), `sum only, x [${xs}]: Expand inside ${ops(g2).join(" ")}`);
      }
    }
  });

  const reshapeCases: { name: string; shape: number[]; f: Fn }[] = [
    { name: "wholly broadcast group ([3] -> [4,3] -> [2,2,3])", shape: [3], f: (x) => np.broadcastTo(x, [4, 3]).reshape([2, 2, 3]) },
    { name: "partly broadcast group ([3] -> [2,3] -> [6])", shape: [3], f: (x) => np.broadcastTo(x, [2, 3]).reshape([6]) },
    { name: "broadcast inner axis merged ([3,1] -> [3,4] -> [12])", shape: [3, 1], f: (x) => np.broadcastTo(x, [3, 4]).reshape([12]) },
    { name: "broadcast axis split, real axis kept ([2,1,3] -> [2,6,3] -> [2,2,3,3])", shape: [2, 1, 3], f: (x) => np.broadcastTo(x, [2, 6, 3]).reshape([2, 2, 3, 3]) },
    { name: "reshape then op with a real tensor", shape: [1, 4], f: (x) => np.broadcastTo(x, [6, 4]).reshape([2, 3, 4]).mul(ramp([2, 3, 4])) },
  ];
  for (const c of reshapeCases) {
    it(`reshape of a broadcast value, ${c.name}: value and grad vs jax-js eager`, async () => {
      await checkVsEager(c.name, c.f, [randn(rngFor(c.name), c.shape)]);
    });
  }

  const reduceCases: { name: string; op: ReduceOp; f: Fn; target: number[]; axes: number[]; gen?: Gen }[] = [
    { name: "sum over a broadcast axis", op: "sum", target: [5, 3], axes: [0], f: (x) => np.sum(np.broadcastTo(x, [5, 3]), 0) },
    { name: "sum over broadcast and real axes", op: "sum", target: [4, 3, 2], axes: [0, 1], f: (x) => np.sum(np.broadcastTo(x, [4, 3, 2]), [0, 1]) },
    { name: "mean over a broadcast axis", op: "mean", target: [3, 6], axes: [1], f: (x) => np.mean(np.broadcastTo(x, [3, 6]), 1) },
    { name: "max over a broadcast axis", op: "max", target: [5, 3], axes: [0], f: (x) => np.max(np.broadcastTo(x, [5, 3]), 0) },
    { name: "min over broadcast and real axes", op: "min", target: [4, 3], axes: [0, 1], f: (x) => np.min(np.broadcastTo(x, [4, 3]), [0, 1]) },
    { name: "prod over a broadcast axis", op: "prod", target: [3, 3], axes: [0], f: (x) => np.prod(np.broadcastTo(x, [3, 3]), 0), gen: awayFromZero },
  ];
  for (const c of reduceCases) {
    it(`reduce: ${c.name}: value vs float64`, async () => {
      const srcShape = c.target.slice(1);
      const x = (c.gen ?? normal())(rngFor(c.name), srcShape);
      await checkVsF64(c.name, c.f, [x], ([v]: Ref[]) => reduce64(broadcastTo64(v!, c.target), c.axes, c.op), { differentiable: false });
    });
  }

  it("reduce: sum over a broadcast axis of a product (broadcast cotangent): value and grads vs float64", async () => {
    const rng = rngFor("sum of broadcast product");
    const x = randn(rng, [1, 4]);
    const y = randn(rng, [3, 1]);
    await checkVsF64("sum of broadcast product", (a, b) => np.sum(a.mul(b), 0), [x, y], ([a, b]: Ref[], w?: Ref) => {
      // out[j] = a[j]·Σᵢb[i]; ∂a[j] = w[j]·Σᵢb[i]; ∂b[i] = Σⱼw[j]a[j]
      const sb = b!.data.reduce((s, v) => s + v, 0);
      const wa = a!.data.reduce((s, v, j) => s + v * (w ? w.data[j]! : 0), 0);
      return {
        value: { data: a!.data.map((v) => v * sb), shape: [4] },
        grads: [
          { data: a!.data.map((_, j) => (w ? w.data[j]! : 0) * sb), shape: [1, 4] },
          { data: b!.data.map(() => wa), shape: [3, 1] },
        ],
      };
    });
  });

  const dotCases: { name: string; sa: number[]; sb: number[]; ta: number[]; tb: number[] }[] = [
    { name: "contraction axis broadcast on the left", sa: [3, 1], sb: [5, 4], ta: [3, 5], tb: [5, 4] },
    { name: "contraction axis broadcast on the right", sa: [3, 5], sb: [1, 4], ta: [3, 5], tb: [5, 4] },
    { name: "contraction axis broadcast on both sides", sa: [3, 1], sb: [1, 4], ta: [3, 5], tb: [5, 4] },
    { name: "row axis broadcast (M axis physically 1)", sa: [1, 5], sb: [5, 4], ta: [3, 5], tb: [5, 4] },
    { name: "column axis broadcast (N axis physically 1)", sa: [3, 5], sb: [5, 1], ta: [3, 5], tb: [5, 4] },
    { name: "batch axis broadcast on one side", sa: [1, 3, 5], sb: [2, 5, 4], ta: [2, 3, 5], tb: [2, 5, 4] },
    { name: "everything broadcast but one axis", sa: [1, 3, 1], sb: [2, 1, 4], ta: [2, 3, 5], tb: [2, 5, 4] },
  ];
  for (const c of dotCases) {
    it(`dot: ${c.name}: value and grads vs float64`, async () => {
      const rng = rngFor(c.name);
      const a = randn(rng, c.sa);
      const b = randn(rng, c.sb);
      await checkVsF64(c.name, (x, y) => np.matmul(np.broadcastTo(x, c.ta), np.broadcastTo(y, c.tb)), [a, b], ([x, y]: Ref[], w?: Ref) => {
        const r = matmul64(broadcastTo64(x!, c.ta), broadcastTo64(y!, c.tb), w);
        // gradients of a broadcast: sum the materialised gradient back to the source shape
        const back = (g: Ref, s: number[]): Ref => {
          const axes = g.shape.map((_, i) => i).filter((i) => s[i] === 1 && g.shape[i]! > 1);
          return { data: reduce64(g, axes, "sum").value.data, shape: s };
        };
        return { value: r.value, grads: [back(r.grads[0]!, c.sa), back(r.grads[1]!, c.sb)] };
      });
    });
  }

  const eagerCases: { name: string; shapes: number[][]; f: Fn }[] = [
    { name: "broadcast + concatenate on a real axis", shapes: [[1, 4], [2, 4]], f: (a, b) => np.concatenate([np.broadcastTo(a, [3, 4]), b], 0) },
    { name: "broadcast + concatenate keeping a shared broadcast axis", shapes: [[1, 2], [1, 5]], f: (a, b) => np.concatenate([np.broadcastTo(a, [3, 2]), np.broadcastTo(b, [3, 5])], 1) },
    { name: "broadcast + concatenate along the broadcast axis", shapes: [[3, 1], [3, 2]], f: (a, b) => np.concatenate([np.broadcastTo(a, [3, 4]), b], 1) },
    { name: "broadcast + pad on the broadcast axis", shapes: [[1, 4]], f: (a) => np.pad(np.broadcastTo(a, [3, 4]), [[1, 1], [0, 0]]) },
    { name: "broadcast + pad on a real axis (broadcast axis kept)", shapes: [[3, 1]], f: (a) => np.pad(np.broadcastTo(a, [3, 4]), [[2, 0], [0, 0]]).mul(ramp([5, 4])) },
    { name: "broadcast + shrink", shapes: [[1, 5]], f: (a) => np.broadcastTo(a, [4, 5]).slice([1, 3], [0, 3]) },
    { name: "broadcast + flip on both axes", shapes: [[3, 1]], f: (a) => np.flip(np.broadcastTo(a, [3, 4]), [0, 1]).mul(ramp([3, 4])) },
    { name: "broadcast + transpose", shapes: [[3, 1]], f: (a) => np.transpose(np.broadcastTo(a, [2, 3, 4]), [2, 0, 1]).mul(ramp([4, 2, 3])) },
    {
      name: "broadcast + split on the broadcast axis",
      shapes: [[3, 1]],
      f: (a) => {
        const [p, q] = np.split(np.broadcastTo(a, [3, 4]), [1], 1);
        return np.concatenate([q!.mul(2), p!], 1);
      },
    },
    // (softmax over a constant axis has a zero gradient: multiply by the input so that the check means something)
    { name: "broadcast + softmax over the broadcast axis", shapes: [[3, 1]], f: (a) => nn.softmax(np.broadcastTo(a.ref, [3, 4]), -1).mul(a) },
    { name: "broadcast + softmax over a real axis", shapes: [[3, 1]], f: (a) => nn.softmax(np.broadcastTo(a, [3, 4]), 0) },
    { name: "broadcast + where", shapes: [[3, 1], [1, 4]], f: (a, b) => np.where(np.less(a.ref, 0), np.broadcastTo(b, [3, 4]), a) },
  ];
  for (const c of eagerCases) {
    it(`${c.name}: value and grad vs jax-js eager`, async () => {
      const rng = rngFor(c.name);
      await checkVsEager(c.name, c.f, c.shapes.map((s) => randn(rng, s)));
    });
  }

  it("broadcast + gather (materialised operand): value vs jax-js eager", async () => {
    const rng = rngFor("broadcast gather");
    const x = randn(rng, [1, 3]);
    const idx = new Tensor(rng.ints(4, 5), [4]);
    await checkVsEager("broadcast gather", (a: J, i: J) => np.take(np.broadcastTo(a, [5, 3]), i, 0), [x, idx], { differentiable: false, tol: 0 });
  });

  it("broadcast output is materialised to its logical shape", async () => {
    const x = tensor([1, 2, 3], [3, 1]);
    const [got] = await runCompiled((a: J) => np.broadcastTo(a, [2, 3, 2]), x);
    assert.deepEqual(got!.shape, [2, 3, 2]);
    assert.deepEqual(Array.from(got!.data), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
  });
});

// ---------------------------------------------------------------------------
describe("float64 (no fusion: the jit bodies and decompositions are lowered as they are)", () => {
  const byName = (n: string) => UNARY_CASES.find((c) => c.name.startsWith(n))!;
  const unary = ["exp", "log", "sqrt", "sin", "reciprocal", "floor", "tanh", "gelu tanh", "silu", "sigmoid"];
  for (const n of unary) {
    const c = byName(n);
    it(`${n} in float64: value and grad vs float64 (relErr ≤ 1e-12)`, async () => {
      const x = asFloat64((c.gen ?? normal())(rngFor(`f64 ${n}`), [3, 5]));
      await checkVsF64(`f64 ${n}`, c.f, [x], ([v]: Ref[], w?: Ref) => elementwise64([v!], c.ref, (u) => [c.d(u)], w), { tol: 1e-12 });
    });
  }

  it("float64 graphs hold no float32-only fused ops", async () => {
    for (const n of ["tanh", "gelu tanh", "silu"]) {
      const g = await lowerGraph((x: J) => byName(n).f(x), spec([2, 3], "float64"));
      assert.ok(!ops(g).some((o) => ["Tanh", "Gelu", "Sigmoid"].includes(o)), `${n}: ${ops(g).join(" ")}`);
    }
  });

  it("softmax and layer norm in float64 (unfused): value and grad vs float64", async () => {
    const rng = rngFor("f64 softmax layernorm");
    const x = asFloat64(randn(rng, [3, 8], 2));
    await checkVsF64("f64 softmax", (v) => nn.softmax(v, -1), [x], ([v]: Ref[], w?: Ref) => softmax64(v!, 1, w), { tol: 1e-12 });
    // jax-js rounds jaxpr literals to float32 even in float64 graphs: 1/8 and ε = 2⁻²⁰ are exact there
    const eps = 2 ** -20;
    const ln = (v: J) => {
      const mu = np.mean(v.ref, -1, { keepdims: true });
      const xc = v.sub(mu);
      return xc.ref.mul(np.reciprocal(np.sqrt(np.mean(xc.ref.mul(xc), -1, { keepdims: true }).add(eps))));
    };
    await checkVsF64("f64 layer norm", ln, [x], ([v]: Ref[], w?: Ref) => layerNorm64(v!, eps, w), { tol: 1e-12 });
  });

  for (const [name, sa, sb] of [
    ["2-D (Gemm)", [3, 4], [4, 5]],
    ["batched (MatMul)", [2, 3, 4], [2, 4, 5]],
  ] as [string, number[], number[]][]) {
    it(`matmul ${name} in float64: value and grads vs float64`, async () => {
      const rng = rngFor(`f64 matmul ${name}`);
      const a = asFloat64(randn(rng, sa));
      const b = asFloat64(randn(rng, sb));
      await checkVsF64(`f64 matmul ${name}`, (x, y) => np.matmul(x, y), [a, b], ([x, y]: Ref[], w?: Ref) => matmul64(x!, y!, w), { tol: 1e-12 });
    });
  }

  it("sum and max reductions in float64: value and grad vs float64", async () => {
    const x = asFloat64(randn(rngFor("f64 reduce"), [3, 4]));
    await checkVsF64("f64 sum", (v) => np.sum(v, 0), [x], ([v]: Ref[], w?: Ref) => reduce64(v!, [0], "sum", w), { tol: 1e-12 });
    await checkVsF64("f64 max", (v) => np.max(v, 1), [x], ([v]: Ref[], w?: Ref) => reduce64(v!, [1], "max", w), { tol: 1e-12 });
  });
});

// ---------------------------------------------------------------------------
describe("errors and the signature cache", () => {
  const unsupported: { prim: string; f: Fn; shapes: number[][] }[] = [
    { prim: "sort", f: (x) => np.sort(x), shapes: [[3, 4]] },
    { prim: "cholesky", f: (x) => np.linalg.cholesky(x.ref.mul(x.transpose()).add(np.eye(3).mul(3))), shapes: [[3, 3]] },
    { prim: "random_bits", f: (x) => x.add(random.uniform(random.key(0), [3])), shapes: [[3]] },
  ];
  for (const c of unsupported) {
    it(`unsupported primitive '${c.prim}': LoweringError naming it and where it came from`, async () => {
      const f = compile(c.f);
      try {
        await assert.rejects(f.lower(...c.shapes.map((s) => spec(s))), (e: Error) => {
          assert.ok(e instanceof LoweringError, `not a LoweringError: ${e}`);
          assert.match(e.message, new RegExp(`'${c.prim}'`));
          assert.match(e.message, /\(at top( > jit '[^']*')* equation \d+: /);
          return true;
        });
        assert.equal(f.cacheSize, 0, "a failed signature is not cached");
      } finally {
        await f.dispose();
      }
    });
  }

  it("unsupported primitive inside a jit: the message names the jit", async () => {
    const inner = jit((x: J) => np.sort(x));
    const f = compile((x: J) => inner(x.ref).add(x));
    await assert.rejects(f.lower(spec([4])), (e: Error) => e instanceof LoweringError && /'sort'/.test(e.message) && /\(at top > jit '[^']*' equation 0/.test(e.message));
    inner.dispose();
    await f.dispose();
  });

  it("takeAlongAxis (2-axis gather) raises a LoweringError", async () => {
    await assert.rejects(
      lowerGraph((x: J, i: J) => np.takeAlongAxis(x, i, 1), spec([3, 4]), spec([3, 2], "int32")),
      (e: Error) => e instanceof LoweringError && /gather over 2 axes/.test(e.message) && /\(at top/.test(e.message),
    );
  });

  it("a new shape or dtype compiles a new signature; the same one hits the cache", async () => {
    const f = compile((x: J) => x.mul(2));
    try {
      const a = (await f(tensor([1, 2, 3], [3]))) as Tensor;
      assert.deepEqual(Array.from(a.data), [2, 4, 6]);
      assert.equal(f.cacheSize, 1);
      const b = (await f(tensor([1, 2, 3, 4], [2, 2]))) as Tensor;
      assert.deepEqual(b.shape, [2, 2]);
      assert.deepEqual(Array.from(b.data), [2, 4, 6, 8]);
      assert.equal(f.cacheSize, 2);
      const c = (await f(new Tensor(Int32Array.from([5, -1, 0]), [3]))) as Tensor;
      assert.equal(c.dtype, "int32");
      assert.deepEqual(Array.from(c.data), [10, -2, 0]);
      assert.equal(f.cacheSize, 3);
      const d = (await f(tensor([0.5, 1, 1.5], [3]))) as Tensor;
      assert.deepEqual(Array.from(d.data), [1, 2, 3]);
      assert.equal(f.cacheSize, 3);
      await f.lower(spec([3]));
      assert.equal(f.cacheSize, 3);
    } finally {
      await f.dispose();
    }
  });

  it("a function traced for specs accepts tensors of another signature", async () => {
    const f = compile((x: J, y: J) => np.matmul(x, y), [spec([2, 3]), spec([3, 4])]);
    try {
      await f.lower(spec([2, 3]), spec([3, 4]));
      assert.equal(f.cacheSize, 1);
      const rng = rngFor("respecialise");
      const x = randn(rng, [5, 2]);
      const y = randn(rng, [2, 3]);
      const out = (await f(x, y)) as Tensor;
      assertClose([out], [matmul64(f64(x), f64(y)).value], 1e-5, "respecialise");
      assert.equal(f.cacheSize, 2);
    } finally {
      await f.dispose();
    }
  });

  it("a non-Tensor leaf throws a TypeError", async () => {
    const f = compile((x: J) => x.mul(2));
    try {
      await assert.rejects(f(new Float32Array([1, 2]) as never), TypeError);
      await assert.rejects(f(3 as never), TypeError);
      await assert.rejects(f({ a: tensor([1], [1]), b: [1, 2] } as never), TypeError);
      assert.equal(f.cacheSize, 0);
    } finally {
      await f.dispose();
    }
  });
});

describe("float64 reference self-check", () => {
  it("erf64 matches tabulated values", () => {
    const table: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [-3, -0.9999779095030014],
    ];
    for (const [x, want] of table) assert.ok(Math.abs(erf64(x) - want) < 1e-14, `erf(${x}) = ${erf64(x)}`);
  });

  it("matmul64 of small matrices by hand", () => {
    const a = { data: Float64Array.from([1, 2, 3, 4]), shape: [2, 2] };
    const b = { data: Float64Array.from([5, 6, 7, 8]), shape: [2, 2] };
    assert.deepEqual(Array.from(matmul64(a, b).value.data), [19, 22, 43, 50]);
  });
});

describe("scatter (gradient of a one-axis gather)", () => {
  before(setupJax);
  for (const [axis, shape] of [
    [0, [7, 5]],
    [1, [3, 7, 2]],
  ] as [number, number[]][]) {
    it(`grad of sum(take(x, i, ${axis}) * w) with repeated indices vs float64 scatter-add`, async () => {
      const idx = Int32Array.of(1, 4, 1, 6, 6, 0); // repeats accumulate
      const outShape = [...shape];
      outShape.splice(axis, 1, 2, 3);
      const n = outShape.reduce((a, b) => a * b, 1);
      const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) + 0.1 * i);
      const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const f = grad((xx: J, ii: J, ww: J) => np.sum(np.take(xx, ii, axis).mul(ww)));
      const g = (await compile(f)(new Tensor(x, shape), new Tensor(idx, [2, 3]), new Tensor(w, outShape))) as Tensor;
      // float64 reference: out[.., idx[j], ..] += w[.., j, ..]
      const pre = shape.slice(0, axis).reduce((a, b) => a * b, 1);
      const post = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const want = new Float64Array(x.length);
      for (let p = 0; p < pre; p++)
        for (let j = 0; j < idx.length; j++)
          for (let q = 0; q < post; q++) want[(p * shape[axis]! + idx[j]!) * post + q]! += w[(p * idx.length + j) * post + q]!;
      assert.deepEqual(g.shape, shape);
      const err = Math.max(...Array.from(g.data as Float32Array, (v, i) => Math.abs(v - want[i]!)));
      assert.ok(err <= 1e-5, `max abs error ${err}`);
    });
  }
});

describe("float idiv and mod (trunc, fmod, power)", () => {
  before(setupJax);
  it("np.trunc and np.fmod on float32 vs float64 (C semantics: toward zero, sign of the dividend)", async () => {
    const a = Float32Array.of(7.5, -7.5, 2.25, -0.5, 9, -9, 0.75, 5.5);
    const b = Float32Array.of(2, 2, -1.5, 0.3, -4, 4, 0.25, -2);
    const f = compile((x: J, y: J) => [np.trunc(x.ref.div(y.ref)), np.fmod(x, y)]);
    const [tq, fm] = (await f(new Tensor(a, [8]), new Tensor(b, [8]))) as Tensor[];
    for (let i = 0; i < 8; i++) {
      const q = Math.fround(a[i]! / b[i]!);
      assert.equal(tq!.data[i], Math.trunc(q), `trunc(${a[i]}/${b[i]})`);
      assert.ok(Math.abs(fm!.data[i]! - (a[i]! % b[i]!)) < 1e-6, `fmod(${a[i]}, ${b[i]}): ${fm!.data[i]}`);
    }
  });
  it("grad of sum(np.power(x, 3)) = 3x² vs float64 (power lowers through trunc/mod)", async () => {
    const x = Float32Array.of(0.5, -1.25, 2, -0.75, 1.5);
    const g = (await compile(grad((v: J) => np.sum(np.power(v, 3))))(new Tensor(x, [5]))) as Tensor;
    const err = Math.max(...Array.from(x, (v, i) => Math.abs(g.data[i]! - 3 * v * v) / (3 * v * v)));
    assert.ok(err < 1e-5, `relative error ${err}`);
  });
});
