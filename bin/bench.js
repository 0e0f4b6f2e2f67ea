#!/usr/bin/env node
// Entry point of `npm run bench`: runs bench/main.ts through tsx, the way bin/dsync.js runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/main.ts');
process.exitCode = await main(process.argv.slice(2));
