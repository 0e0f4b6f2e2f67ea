#!/usr/bin/env node
// Entry point of the `dsync` command: the compiled CLI in dist/ (built by `npm run build`,
// which `npm install` runs through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('dsync: the compiled build is missing (dist/cli/main.js); run `npm run build` in the dsync folder');
  process.exit(3);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
