/**
 * A small ONNX graph builder: nodes, initializers and constants, with the two
 * graph-level clean-ups the lowering relies on (transpose composition and
 * dead-node elimination), and encoding to a ModelProto with onnx-proto.
 */
import onnxProto from "onnx-proto";
import { dtypeInfo, type TypedArray } from "./dtype.js";

const { onnx } = onnxProto;

/** Opset 20: the first with a native `Gelu` (tanh approximation included). */
export const OPSET = 20;
/** IR version 9 goes with opset 20. */
export const IR_VERSION = 9;

export type AttrValue = number | number[] | string | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  /** Where the node came from (a jaxpr equation), for error messages. */
  origin?: string;
}

export interface Initializer {
  name: string;
  dtype: string; // "int64" is allowed here for shape tensors
  dims: number[];
  data: TypedArray | BigInt64Array;
}

export interface GraphIO {
  name: string;
  dtype: string;
  shape: number[];
}

/**
 * The smallest transpose moving the same data: size-1 axes dropped, and runs
 * of axes that stay adjacent and in order merged into one. Returns the input
 * shape to reshape to and the permutation of its axes.
 */
export function canonicalTranspose(shape: number[], perm: number[]): { inShape: number[]; perm: number[] } {
  // input axes renumbered without the size-1 ones, in output order
  const compact = new Map<number, number>();
  shape.forEach((d, i) => d !== 1 && compact.set(i, compact.size));
  const kept = perm.filter((p) => shape[p] !== 1).map((p) => compact.get(p)!);
  const sizes = shape.filter((d) => d !== 1);
  // runs of consecutive input axes, in output order
  const runs: number[][] = [];
  for (const p of kept) {
    const last = runs[runs.length - 1];
    if (last && p === last[last.length - 1]! + 1) last.push(p);
    else runs.push([p]);
  }
  // merged input axes are the runs in input order
  const byInput = [...runs].sort((a, b) => a[0]! - b[0]!);
  const inShape = byInput.map((r) => r.reduce((n, a) => n * sizes[a]!, 1));
  return { inShape, perm: runs.map((r) => byInput.indexOf(r)) };
}

/** Raw little-endian bytes of a typed array (no copy). */
export function bytesOf(a: TypedArray | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function onnxTypeOf(dtype: string): number {
  return dtype === "int64" ? onnx.TensorProto.DataType.INT64 : dtypeInfo(dtype).onnx;
}

export class Graph {
  nodes: OnnxNode[] = [];
  initializers: Initializer[] = [];
  inputs: GraphIO[] = [];
  outputs: GraphIO[] = [];
  /** Producer of each value name (for peephole folds). */
  private producer = new Map<string, OnnxNode>();
  private counter = 0;
  private constCache = new Map<string, string>();
  /** Known shapes of values that went through reshape(), for folding reshape chains. */
  private shapes = new Map<string, number[]>();
  /** Outputs of transposes emitted as Reshape → Transpose → Reshape: what they transpose, for composition. */
  private transposes = new Map<string, { x: string; perm: number[]; shape: number[] }>();

  fresh(prefix = "v"): string {
    return `${prefix}_${this.counter++}`;
  }

  addNode(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, nOut = 1, origin?: string): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(op.toLowerCase()));
    const node: OnnxNode = { op, inputs, outputs, attrs, origin };
    this.nodes.push(node);
    for (const o of outputs) this.producer.set(o, node);
    return outputs;
  }

  /** Single-output convenience wrapper around `addNode`. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.addNode(op, inputs, attrs, 1)[0]!;
  }

  /** Shape of a value recorded by reshape(), if known. */
  shapeOf(name: string): number[] | undefined {
    return this.shapes.get(name);
  }

  producerOf(name: string): OnnxNode | undefined {
    return this.producer.get(name);
  }

  addInitializer(name: string, dtype: string, dims: number[], data: TypedArray | BigInt64Array): string {
    this.initializers.push({ name, dtype, dims, data });
    return name;
  }

  /** A constant tensor, deduplicated by value. */
  constant(dtype: string, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): string {
    const key = `${dtype}|${dims.join(",")}|${Array.from(values as ArrayLike<number>).join(",")}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    let data: TypedArray | BigInt64Array;
    if (dtype === "int64") {
      data = BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(v)));
    } else {
      data = dtypeInfo(dtype).make(values.length);
      if (dtype === "bool") (data as Uint8Array).set(Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0)));
      else (data as Float32Array).set(values as ArrayLike<number>);
    }
    const name = this.addInitializer(this.fresh("const"), dtype, dims, data);
    this.constCache.set(key, name);
    return name;
  }

  /** An int64 1-D tensor (shapes, axes for Reshape/Unsqueeze/…). */
  int64s(values: number[]): string {
    return this.constant("int64", [values.length], values);
  }

  /**
   * Transpose with composition: Transpose(Transpose(x, p), q) becomes one
   * Transpose(x, p∘q), and the identity permutation is no node at all. With
   * the input shape known, a permutation that only moves size-1 axes is a
   * Reshape (no data movement), which ONNX Runtime runs as a view; otherwise
   * size-1 axes are dropped and axes that stay adjacent are merged, so that
   * e.g. [8,256,1536,1] → [1536,1,8,256] runs as the 2-D transpose
   * [2048,1536] → [1536,2048]: ONNX Runtime's generic N-D transpose measured
   * 5–6× slower than its 2-D one on such weight-gradient layouts.
   */
  transpose(x: string, perm: number[], shape?: number[]): string {
    const virtual = this.transposes.get(x);
    const inner = this.producer.get(x);
    if (virtual) {
      perm = perm.map((i) => virtual.perm[i]!);
      x = virtual.x;
      shape = virtual.shape;
    } else if (inner && inner.op === "Transpose") {
      const p = inner.attrs.perm as number[];
      perm = perm.map((i) => p[i]!);
      x = inner.inputs[0]!;
      shape = this.shapes.get(x);
    }
    if (perm.every((p, i) => p === i)) return x;
    shape ??= this.shapes.get(x);
    if (!shape) return this.op("Transpose", [x], { perm });
    this.shapes.set(x, shape);
    const outShape = perm.map((p) => shape![p]!);
    const { inShape, perm: merged } = canonicalTranspose(shape, perm);
    if (merged.length <= 1) return this.reshape(x, shape, outShape); // only size-1 axes move
    if (merged.length === perm.length) {
      const out = this.op("Transpose", [x], { perm });
      this.shapes.set(out, outShape);
      return out;
    }
    const t = this.op("Transpose", [this.reshape(x, shape, inShape)], { perm: merged });
    this.shapes.set(t, merged.map((p) => inShape[p]!));
    const out = this.reshape(t, merged.map((p) => inShape[p]!), outShape);
    this.transposes.set(out, { x, perm, shape });
    return out;
  }

  /** Reshape (composes with a producing Reshape; no node when the shape is unchanged). */
  reshape(x: string, fromShape: number[], shape: number[]): string {
    if (fromShape.length === shape.length && fromShape.every((d, i) => d === shape[i])) return x;
    this.shapes.set(x, fromShape);
    const inner = this.producer.get(x);
    if (inner && inner.op === "Reshape") {
      x = inner.inputs[0]!;
      const orig = this.shapes.get(x);
      if (orig && orig.length === shape.length && orig.every((d, i) => d === shape[i])) return x;
    }
    const out = this.op("Reshape", [x, this.int64s(shape)]);
    this.shapes.set(out, shape);
    return out;
  }

  /** Turn graph inputs into initializers holding the given data (e.g. weights baked into an export). */
  bindInputs(values: Map<string, { dtype: string; shape: number[]; data: TypedArray }>): void {
    this.inputs = this.inputs.filter((io) => {
      const v = values.get(io.name);
      if (!v) return true;
      if (v.dtype !== io.dtype || v.shape.join() !== io.shape.join()) {
        throw new Error(`bindInputs: ${io.name} is ${io.dtype}[${io.shape}], got ${v.dtype}[${v.shape}]`);
      }
      this.addInitializer(io.name, io.dtype, io.shape, v.data);
      return false;
    });
  }

  /** Remove nodes and initializers that do not contribute to an output. */
  eliminateDeadCode(): void {
    const live = new Set(this.outputs.map((o) => o.name));
    const kept: OnnxNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i]!;
      if (node.outputs.some((o) => live.has(o))) {
        kept.push(node);
        for (const inp of node.inputs) if (inp) live.add(inp);
      }
    }
    this.nodes = kept.reverse();
    this.initializers = this.initializers.filter((t) => live.has(t.name));
  }

  /**
   * Encode as an ONNX ModelProto. Initializers larger than `externalThreshold`
   * bytes are left out of the protobuf and reported through `onExternal`, which
   * returns where they were written (ONNX external-data format).
   */
  toModelProto(opts: {
    name?: string;
    externalThreshold?: number;
    onExternal?: (t: Initializer) => { location: string; offset: number; length: number };
  } = {}): InstanceType<typeof onnx.ModelProto> {
    const valueInfo = (io: GraphIO) =>
      onnx.ValueInfoProto.create({
        name: io.name,
        type: onnx.TypeProto.create({
          tensorType: onnx.TypeProto.Tensor.create({
            elemType: onnxTypeOf(io.dtype),
            shape: onnx.TensorShapeProto.create({
              dim: io.shape.map((d) => onnx.TensorShapeProto.Dimension.create({ dimValue: d })),
            }),
          }),
        }),
      });
    const initializer = this.initializers.map((t) => {
      const proto = onnx.TensorProto.create({ name: t.name, dataType: onnxTypeOf(t.dtype), dims: t.dims });
      const bytes = bytesOf(t.data);
      if (opts.onExternal && bytes.byteLength > (opts.externalThreshold ?? Infinity)) {
        const where = opts.onExternal(t);
        proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        proto.externalData = [
          onnx.StringStringEntryProto.create({ key: "location", value: where.location }),
          onnx.StringStringEntryProto.create({ key: "offset", value: String(where.offset) }),
          onnx.StringStringEntryProto.create({ key: "length", value: String(where.length) }),
        ];
      } else {
        proto.rawData = bytes;
      }
      return proto;
    });
    const node = this.nodes.map((n, i) =>
      onnx.NodeProto.create({
        name: `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        docString: n.origin ?? "",
        attribute: Object.entries(n.attrs).map(([name, v]) => encodeAttr(name, v)),
      }),
    );
    const graph = onnx.GraphProto.create({
      name: opts.name ?? "dit_ts",
      node,
      initializer,
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
    });
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: "dit-ts",
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: OPSET })],
      graph,
    });
  }

  encode(): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto()).finish();
  }
}

function encodeAttr(name: string, v: AttrValue) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: non-integer ${v} must be given as {float}`);
    return onnx.AttributeProto.create({ name, type: A.INT, i: v });
  }
  if (typeof v === "string") return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float });
}
