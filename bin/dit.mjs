#!/usr/bin/env node
// Launcher for the `dit` command: runs the TypeScript sources through tsx, so
// `npx dit …` works right after `npm ci` with no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
