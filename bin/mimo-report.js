#!/usr/bin/env node
import { runCli } from './run-cli.js';
await runCli('compiler/cli/mimo-report');
