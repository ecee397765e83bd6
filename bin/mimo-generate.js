#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the compiler needs no build step.
import { register } from 'tsx/esm/api';
register();
await import('../model/cli/mimo-generate.ts');
