/** Where the CLI finds its config: `--config`, then DSYNC_CONFIG, then ./dsync.config.json. */
import { resolve } from 'node:path';
import { type Config, loadConfigFile } from '../config/config.ts';

export function loadConfig(flagPath?: string, env = process.env): Config {
  return loadConfigFile(resolve(flagPath || env.DSYNC_CONFIG || 'dsync.config.json'), env);
}
