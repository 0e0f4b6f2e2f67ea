/**
 * For the seeded comparisons of the server's merge with the planner (integration/server-merge*.test.ts):
 * node b's import run to the end of its inbox with the merge switched on or off (DSYNC_SERVER_MERGE),
 * the variable as it was afterwards.
 */
import type { Config, ProgramConfig } from '../../src/config/config.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import type { NodeSet } from '../../src/runtime/nodes.ts';

export async function importAllAtB(config: Config, nodes: NodeSet, serverMerge: boolean, programId = 1001): Promise<void> {
  const before = process.env.DSYNC_SERVER_MERGE;
  process.env.DSYNC_SERVER_MERGE = serverMerge ? 'on' : 'off';
  try {
    const handle = await nodes.get('b');
    const program = config.programs.find((p) => p.id === programId) as ProgramConfig;
    for (let pass = 0; pass < 20; pass++) {
      const r = await importOnce(config, program, handle);
      if (r.pointer >= r.horizon && r.heldBack === 0) break;
    }
  } finally {
    if (before === undefined) delete process.env.DSYNC_SERVER_MERGE;
    else process.env.DSYNC_SERVER_MERGE = before;
  }
}
