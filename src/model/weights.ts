/** Kept for compatibility: state-dict loading and saving live in `src/io/state-dict.ts`. */
export { loadStateDict, saveStateDict } from "../io/state-dict.js";
