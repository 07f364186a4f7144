/** Helpers shared by the training-step tests: fresh states and micro-batch slices. */
import { cloneStateDict, type StateDict } from "../../src/io/state-dict.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { zeroMoments, type MicroBatch } from "../../src/train/runner.js";
import type { TrainState } from "../../src/train/state.js";

/** Rows [from, to) of a micro-batch. */
export function rows(b: MicroBatch, from: number, to: number): MicroBatch {
  const per = b.x.data.length / b.x.shape[0]!;
  const sl = (t: Tensor) => new Tensor((t.data as Float32Array).slice(from * per, to * per), [to - from, ...t.shape.slice(1)]);
  return { x: sl(b.x), noise: sl(b.noise), t: b.t.slice(from, to), y: b.y.slice(from, to) };
}

/** Step 0 from `init`: the EMA a copy, zero Adam moments for `names`. */
export function freshState(init: StateDict, names: string[]): TrainState {
  return { step: 0, model: cloneStateDict(init), ema: cloneStateDict(init), adam: { step: 0, ...zeroMoments(init, names) } };
}
