/**
 * Element types: the one table of every element type the project reads, writes
 * or computes with, and its names and sizes in ONNX, ONNX Runtime, safetensors
 * and PyTorch. The compiler computes with a subset (`DTypeName`).
 *
 * jax-js has no 64-bit integers, so int64 tensors (PyTorch labels and timesteps)
 * are converted to int32 at the boundary (see `io/`).
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const D = onnx.TensorProto.DataType;

/** Element types the compiler computes with. */
export type DTypeName = "float32" | "int32" | "uint32" | "bool" | "float16" | "float64";

/** Every element type, named as PyTorch names it (`torch.float32` → "float32"). */
export type ElementType = DTypeName | "bfloat16" | "int64" | "int16" | "int8" | "uint8";

/** Element types of safetensors files. */
export type SafetensorsDType = "F32" | "F64" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** Element types a PyTorch checkpoint tensor can have here. */
export type TorchDType = Exclude<ElementType, "uint32">;

/** A typed array of one of the supported element types. */
export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Uint16Array | Float64Array;

/** The typed array holding each element type (float16 and bfloat16 as their bits). */
type ArrayType =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint16ArrayConstructor
  | BigInt64ArrayConstructor
  | Int32ArrayConstructor
  | Int16ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint32ArrayConstructor;

export interface ElementInfo {
  bytes: number;
  float: boolean;
  /** ONNX TensorProto data type. */
  onnx: number;
  /** Name onnxruntime-common uses for the tensor type (none for bfloat16). */
  ort?: "float32" | "float64" | "float16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "uint32" | "bool";
  /** safetensors name (none for uint32). */
  safetensors?: SafetensorsDType;
  /** The legacy PyTorch storage class (torch.FloatStorage, …). */
  torchStorage?: string;
  array: ArrayType;
}

/** The one table. */
export const ELEMENT_TYPES: Record<ElementType, ElementInfo> = {
  float32: { bytes: 4, float: true, onnx: D.FLOAT, ort: "float32", safetensors: "F32", torchStorage: "FloatStorage", array: Float32Array },
  float64: { bytes: 8, float: true, onnx: D.DOUBLE, ort: "float64", safetensors: "F64", torchStorage: "DoubleStorage", array: Float64Array },
  float16: { bytes: 2, float: true, onnx: D.FLOAT16, ort: "float16", safetensors: "F16", torchStorage: "HalfStorage", array: Uint16Array },
  bfloat16: { bytes: 2, float: true, onnx: D.BFLOAT16, safetensors: "BF16", torchStorage: "BFloat16Storage", array: Uint16Array },
  int64: { bytes: 8, float: false, onnx: D.INT64, ort: "int64", safetensors: "I64", torchStorage: "LongStorage", array: BigInt64Array },
  int32: { bytes: 4, float: false, onnx: D.INT32, ort: "int32", safetensors: "I32", torchStorage: "IntStorage", array: Int32Array },
  int16: { bytes: 2, float: false, onnx: D.INT16, ort: "int16", safetensors: "I16", torchStorage: "ShortStorage", array: Int16Array },
  int8: { bytes: 1, float: false, onnx: D.INT8, ort: "int8", safetensors: "I8", torchStorage: "CharStorage", array: Int8Array },
  uint8: { bytes: 1, float: false, onnx: D.UINT8, ort: "uint8", safetensors: "U8", torchStorage: "ByteStorage", array: Uint8Array },
  uint32: { bytes: 4, float: false, onnx: D.UINT32, ort: "uint32", array: Uint32Array },
  bool: { bytes: 1, float: false, onnx: D.BOOL, ort: "bool", safetensors: "BOOL", torchStorage: "BoolStorage", array: Uint8Array },
};

const COMPUTE: readonly DTypeName[] = ["float32", "int32", "uint32", "bool", "float16", "float64"];

/** The compiler's view of a dtype: ONNX and ONNX Runtime names, size, and a typed-array maker. */
export interface DTypeInfo {
  onnx: number;
  ort: NonNullable<ElementInfo["ort"]>;
  bytes: number;
  make: (n: number) => TypedArray;
}

export function dtypeInfo(dtype: string): DTypeInfo {
  if (!COMPUTE.includes(dtype as DTypeName)) {
    throw new TypeError(`unsupported dtype '${dtype}': expected one of ${COMPUTE.join(", ")}`);
  }
  const e = ELEMENT_TYPES[dtype as DTypeName];
  return { onnx: e.onnx, ort: e.ort!, bytes: e.bytes, make: (n) => new e.array(n) as TypedArray };
}

export function isFloat(dtype: string): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "float64";
}

/** The element type of a safetensors name, or undefined for an unknown name. */
export function fromSafetensors(dtype: string): ElementType | undefined {
  return SAFETENSORS.get(dtype);
}

const SAFETENSORS = new Map(Object.entries(ELEMENT_TYPES).flatMap(([k, v]) => (v.safetensors ? [[v.safetensors as string, k as ElementType]] : [])));

const ROWS = Object.entries(ELEMENT_TYPES) as [ElementType, ElementInfo][];

/**
 * The element type of a typed array: the first row of the table that it holds,
 * so Uint16Array reads as float16 (not bfloat16) and Uint8Array as uint8 (not bool).
 */
export function elementTypeOfArray(a: ArrayBufferView): ElementType {
  for (const [name, e] of ROWS) if (a instanceof e.array) return name;
  throw new TypeError(`unsupported typed array ${a.constructor.name}`);
}

/** The compiler's dtype of a typed array (Uint8Array is read as bool). */
export function dtypeOfArray(a: TypedArray): DTypeName {
  const e = elementTypeOfArray(a);
  return e === "uint8" ? "bool" : (e as DTypeName);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
