/** Types of eacces-preload.mjs (a plain .mjs so that `node --import` loads it without tsx). */
export function injectEacces(dir: string, ops?: string[]): () => void;
