#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the autotuner needs no build step.
import { register } from 'tsx/esm/api';
register();
await import('../compiler/cli/mimo-autotune.ts');
