/**
 * What the page's bundle uses of `onnx-proto`: the TensorProto data type
 * numbers (src/runtime/dtype.ts builds its element-type table from them, and
 * src/runtime/tensor.ts imports that table). The page never encodes or decodes
 * protobuf messages (onnxruntime-web reads the graphs), so web/vite.config.ts
 * aliases `onnx-proto` to this file and the ~100 KB minified generated protobuf
 * code stays out of the page. web/build.ts checks these numbers against
 * onnx-proto's own enum on every build; anything else read from here throws.
 */
const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

export const ONNX_DATA_TYPES: Readonly<Record<string, number>> = DataType;

const strict = <T extends object>(o: T, path: string): T =>
  new Proxy(o, {
    get(target, key) {
      if (typeof key === "string" && !(key in target)) throw new Error(`onnx-proto is not bundled in the page: ${path}.${key} is not available (web/src/onnx-proto-shim.ts)`);
      return Reflect.get(target, key) as unknown;
    },
  });

export default { onnx: strict({ TensorProto: strict({ DataType }, "onnx.TensorProto") }, "onnx") };
