#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so it needs no build step.
import { register } from 'tsx/esm/api';
register();
await import('../model/cli/mimo-init.ts');
