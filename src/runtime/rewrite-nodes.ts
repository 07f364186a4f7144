/**
 * The skeleton of an ONNX rewrite pass that replaces matching nodes of a
 * model's main graph with a few elementary ops, in place (same input and
 * output names, so the node order stays topological). Used by
 * expand-gelu.ts and expand-trig.ts.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
export type NodeProto = onnxProto.onnx.INodeProto;

/** What a pass's `expand` gets to build one replacement with. */
export interface NodeBuilder {
  /** Append a node `opType(input) → output`; returns `output`. */
  op(opType: string, input: string[], output: string): string;
  /** The name of a float32 scalar initializer holding `v` (one per distinct value in the model). */
  k(v: number): string;
  /** A value name private to this match: `<pass>_<i>_<s>`. */
  v(s: string): string;
}

/**
 * The model (ONNX bytes) with every node of its main graph for which `match`
 * holds replaced by what `expand` builds (it must write the node's outputs).
 * Returns the input bytes unchanged when no node matches. `pass` prefixes the
 * new names; a constant name the graph already has is refused.
 */
export function rewriteNodes(model: Uint8Array, pass: string, match: (n: NodeProto) => boolean, expand: (n: NodeProto, b: NodeBuilder) => void): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph;
  if (!g?.node?.some(match)) return model;
  const taken = new Set([...(g.initializer ?? []).map((t) => t.name), ...g.node.flatMap((n) => n.output ?? [])]);
  const consts = new Map<number, string>();
  const nodes: NodeProto[] = [];
  const k = (v: number): string => {
    let name = consts.get(v);
    if (!name) {
      name = `${pass}_const_${consts.size}`;
      if (taken.has(name)) throw new Error(`${pass}: the graph already has a value named '${name}'`);
      consts.set(v, name);
      (g.initializer ??= []).push(onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [v] }));
    }
    return name;
  };
  let i = 0;
  for (const n of g.node) {
    if (!match(n)) {
      nodes.push(n);
      continue;
    }
    const at = i++;
    expand(n, {
      op: (opType, input, output) => {
        nodes.push(onnx.NodeProto.create({ name: `${n.name || n.opType}_${output}`, opType, input, output: [output] }));
        return output;
      },
      k,
      v: (s) => `${pass}_${at}_${s}`,
    });
  }
  g.node = nodes;
  return onnx.ModelProto.encode(m).finish();
}
