/**
 * Element types the compiler understands, and their ONNX and typed-array counterparts.
 *
 * jax-js has no 64-bit integers, so int64 tensors (PyTorch labels and timesteps)
 * are converted to int32 at the boundary (see `io/`).
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

export type DTypeName = "float32" | "int32" | "uint32" | "bool" | "float16" | "float64";

/** A typed array of one of the supported element types. */
export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Uint16Array | Float64Array;

interface DTypeInfo {
  onnx: number;
  /** Name onnxruntime-common uses for the tensor type. */
  ort: "float32" | "int32" | "uint32" | "bool" | "float16" | "float64";
  bytes: number;
  make: (n: number) => TypedArray;
}

const TABLE: Record<DTypeName, DTypeInfo> = {
  float32: { onnx: onnx.TensorProto.DataType.FLOAT, ort: "float32", bytes: 4, make: (n) => new Float32Array(n) },
  int32: { onnx: onnx.TensorProto.DataType.INT32, ort: "int32", bytes: 4, make: (n) => new Int32Array(n) },
  uint32: { onnx: onnx.TensorProto.DataType.UINT32, ort: "uint32", bytes: 4, make: (n) => new Uint32Array(n) },
  bool: { onnx: onnx.TensorProto.DataType.BOOL, ort: "bool", bytes: 1, make: (n) => new Uint8Array(n) },
  float16: { onnx: onnx.TensorProto.DataType.FLOAT16, ort: "float16", bytes: 2, make: (n) => new Uint16Array(n) },
  float64: { onnx: onnx.TensorProto.DataType.DOUBLE, ort: "float64", bytes: 8, make: (n) => new Float64Array(n) },
};

export function dtypeInfo(dtype: string): DTypeInfo {
  const info = TABLE[dtype as DTypeName];
  if (!info) {
    throw new TypeError(`unsupported dtype '${dtype}': expected one of ${Object.keys(TABLE).join(", ")}`);
  }
  return info;
}

export function isFloat(dtype: string): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "float64";
}

/** The dtype name of a typed array (Uint8Array is read as bool). */
export function dtypeOfArray(a: TypedArray): DTypeName {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof Uint8Array) return "bool";
  if (a instanceof Uint16Array) return "float16";
  if (a instanceof Float64Array) return "float64";
  throw new TypeError("unsupported typed array");
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
