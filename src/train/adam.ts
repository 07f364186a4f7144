/**
 * Adam on host memory, exactly PyTorch's `torch.optim.Adam` update (no weight
 * decay, no amsgrad), over the Float32Arrays of a state dict. Gradients come
 * as a tree of tensors named like the parameters (what `valueAndGrad` returns).
 */
import { Tensor } from "../runtime/tensor.js";

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
}

/** The tensor at a dotted name ("blocks.0.attn.qkv.weight") of a nested tree. */
export function treeLeaf(tree: unknown, name: string): Tensor {
  let node = tree;
  for (const part of name.split(".")) node = (node as Record<string, unknown> | undefined)?.[part];
  if (!(node instanceof Tensor)) throw new Error(`no gradient for '${name}'`);
  return node;
}

export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  /** Optimises `weights.get(name)` in place for every name in `names`. */
  constructor(
    private readonly weights: Map<string, Tensor>,
    private readonly names: string[],
    private readonly opts: AdamOptions,
  ) {
    this.m = names.map((k) => new Float32Array(weights.get(k)!.data.length));
    this.v = names.map((k) => new Float32Array(weights.get(k)!.data.length));
  }

  /** One update from a gradient tree. */
  step(grads: unknown): void {
    const [b1, b2] = this.opts.betas ?? [0.9, 0.999];
    const eps = this.opts.eps ?? 1e-8;
    const lr = this.opts.lr;
    this.t++;
    const c1 = 1 - b1 ** this.t;
    const c2 = Math.sqrt(1 - b2 ** this.t);
    this.names.forEach((k, j) => {
      const p = this.weights.get(k)!.data as Float32Array;
      const g = treeLeaf(grads, k).data as Float32Array;
      const m = this.m[j]!;
      const v = this.v[j]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        p[i] = p[i]! - ((lr / c1) * m[i]!) / (Math.sqrt(v[i]!) / c2 + eps);
      }
    });
  }
}
