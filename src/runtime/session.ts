/**
 * ONNX Runtime sessions: creation with the project's settings and a
 * typed-array-in, typed-array-out `run`. The ONNX Runtime module comes from
 * `getOrt()` (onnxruntime-node by default; see ort.ts).
 */
import type * as OrtCommon from "onnxruntime-common";
import { dtypeInfo, type TypedArray } from "./dtype.js";
import { envVar, getOrt, type OrtModule } from "./ort.js";
import { Tensor } from "./tensor.js";

export interface SessionOptions {
  /** Intra-op threads; default: every core. */
  threads?: number;
  /**
   * Let idle pool threads spin-wait between ops. Default off (`DIT_ORT_SPIN=1` turns it on):
   * staged execution runs JavaScript between session runs, which spinning threads starve on
   * 2 cores; a single long graph run benefits from it.
   */
  spinning?: boolean;
  /** Execution providers, default ["cpu"]; "cuda" where the user has it. */
  providers?: string[];
}

export class Session {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtCommon.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    opts = { spinning: envVar("DIT_ORT_SPIN") === "1", ...opts };
    const { ort, threads } = await getOrt();
    const s = await ort.InferenceSession.create(model, {
      intraOpNumThreads: opts.threads ?? threads,
      interOpNumThreads: 1,
      // Spinning pool threads would compete with the JavaScript thread, which
      // prepares the next stage between runs on a 2-core machine.
      extra: { session: { intra_op: { allow_spinning: opts.spinning ? "1" : "0" } } },
      graphOptimizationLevel: "all",
      executionProviders: opts.providers ?? ["cpu"],
    });
    return new Session(ort, s, s.inputNames, s.outputNames);
  }

  /** Run with inputs in `inputNames` order; returns outputs in `outputNames` order. */
  async run(inputs: Tensor[]): Promise<Tensor[]> {
    if (inputs.length !== this.inputNames.length) {
      throw new RangeError(`session takes ${this.inputNames.length} inputs, got ${inputs.length}`);
    }
    const feeds: Record<string, OrtCommon.Tensor> = {};
    inputs.forEach((t, i) => {
      const type = dtypeInfo(t.dtype).ort;
      feeds[this.inputNames[i]!] = new this.ort.Tensor(type, t.data as never, t.shape);
    });
    const results = await this.session.run(feeds);
    return this.outputNames.map((name) => {
      const r = results[name]!;
      return new Tensor(r.data as TypedArray, [...r.dims]);
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
