/** Child process of the SIGKILL test: `node --import tsx test/train/child.ts OUT STEPS [--resume]` trains the tiny DiT. */
import { train } from "../../src/train/train.js";
import { TINY, tinyData } from "./tiny.js";

const [out, steps] = process.argv.slice(2);
await train({ config: TINY, data: tinyData(), out: out!, steps: Number(steps), batchSize: 4, ckptEvery: 2, logEvery: 1, seed: 3, resume: process.argv.includes("--resume"), onStep: (s) => process.stdout.write(`step ${s}\n`) });
