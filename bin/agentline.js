#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so the CLI, `npm start` and the tests share one tree.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
