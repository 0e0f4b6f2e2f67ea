import { readFileSync } from 'node:fs';

/** The package version, written into generated files and printed by `dsync --version`. */
export const DSYNC_VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
