#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli to dist/ by `npm install` (prepare) or `npm run build`.
import { main } from '../dist/cli/main.js';

main(process.argv).catch((error) => {
  process.stderr.write(`voxroom: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
