/**
 * Host tensors (typed array + shape) and abstract tensor specs.
 *
 * Both are class instances on purpose: jax-js pytrees treat plain objects as
 * tree nodes and class instances as leaves.
 */
import { dtypeOfArray, numel, type DTypeName, type TypedArray } from "./dtype.js";

/** Shape and dtype of an input, used for tracing (jax-js reads `shape`, `dtype`, `weakType`). */
export class TensorSpec {
  readonly weakType = false;
  constructor(
    readonly shape: number[],
    readonly dtype: DTypeName = "float32",
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new TypeError(`invalid shape [${shape}]: dimensions must be non-negative integers`);
    }
  }
  toString(): string {
    return `${this.dtype}[${this.shape.join(",")}]`;
  }
}

/** Shorthand for `new TensorSpec(shape, dtype)`. */
export function spec(shape: number[], dtype: DTypeName = "float32"): TensorSpec {
  return new TensorSpec(shape, dtype);
}

/** A host tensor: a typed array in C order and its shape. */
export class Tensor {
  constructor(
    readonly data: TypedArray,
    readonly shape: number[],
  ) {
    if (numel(shape) !== data.length) {
      throw new RangeError(`tensor data has ${data.length} elements but shape [${shape}] needs ${numel(shape)}`);
    }
  }
  get dtype(): DTypeName {
    return dtypeOfArray(this.data);
  }
  get spec(): TensorSpec {
    return new TensorSpec(this.shape, this.dtype);
  }
  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(",")}])`;
  }
}
