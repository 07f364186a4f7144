/**
 * The registry of feature networks: a name → a loaded `FeatureNetwork`.
 *
 * - "fmnist": the project's Fashion-MNIST classifier (`fmnist-network.ts`), shipped.
 * - "inception": pytorch-fid's Inception-v3 (`inception.ts`), loaded on
 *   demand with a dynamic import, from weights the user supplies.
 */
import { EvalInputError } from "./errors.js";
import type { FeatureNetwork, FeatureNetworkName } from "./feature-network.js";
import { isGreyRgb, loadFmnistNetwork, FMNIST_INPUT_SIZES } from "./fmnist-network.js";

/** Every network name `openFeatureNetwork` knows. */
export const FEATURE_NETWORK_NAMES: readonly FeatureNetworkName[] = ["fmnist", "inception"];

export interface OpenFeatureNetworkOptions {
  /** Weights file; default: the shipped classifier (fmnist) or the Inception loader's default location. */
  weights?: string;
}

/** Is `name` one of FEATURE_NETWORK_NAMES? */
export function isFeatureNetworkName(name: string): name is FeatureNetworkName {
  return (FEATURE_NETWORK_NAMES as readonly string[]).includes(name);
}

interface InceptionModule {
  loadFidInception(opts?: { weights?: string }): Promise<FeatureNetwork>;
}

/** Load a feature network by name. Throws EvalInputError for an unknown name. */
export async function openFeatureNetwork(name: string, opts: OpenFeatureNetworkOptions = {}): Promise<FeatureNetwork> {
  if (name === "fmnist") return loadFmnistNetwork({ weights: opts.weights });
  if (name === "inception") {
    const spec = "./inception.js"; // a variable: the module may be absent from a partial build
    let mod: InceptionModule;
    try {
      mod = (await import(spec)) as InceptionModule;
    } catch (e) {
      throw new EvalInputError(`the Inception network is not available in this build (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    return mod.loadFidInception(opts.weights ? { weights: opts.weights } : undefined);
  }
  throw new EvalInputError(`unknown feature network '${name}'; expected one of ${FEATURE_NETWORK_NAMES.join(", ")}`);
}

/**
 * The network `dit eval` uses when none is named and the reference does not
 * record one: "fmnist" for grey 28×28 or 32×32 images (C = 1, or C = 3 with
 * R = G = B), "inception" otherwise. `sample` is some of the images (N, H, W, C).
 */
export function defaultFeatureNetwork(shape: readonly [number, number, number, number], sample?: Uint8Array): FeatureNetworkName {
  const [, h, w, c] = shape;
  const grey = c === 1 || (c === 3 && sample !== undefined && isGreyRgb(sample));
  return h === w && FMNIST_INPUT_SIZES.includes(h) && grey ? "fmnist" : "inception";
}
