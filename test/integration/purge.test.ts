/**
 * `dsync purge` on a hub: the outbox is purged up to the lowest pointer of the transports that read it,
 * so nothing is purged that a transport has not delivered. The hub's
 * pointers are read one after the other on its one connection: node-postgres warns (and its next major
 * refuses) when a query is queued behind another that waits (a DeprecationWarning on the user's terminal).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purge } from '../../src/runtime/purge.ts';
import { runProgramOnce } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createTopology, type Topology } from '../helpers/sync-topology.ts';

const live = await liveDialects();

describe.runIf(live.includes('postgres'))('purge on a PostgreSQL hub with three spokes', () => {
  let topology: Topology;
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  beforeAll(async () => {
    topology = await createTopology({
      nodes: { hub: 'postgres', s1: 'sqlite', s2: 'sqlite', s3: 'sqlite' },
      links: [{ hub: 'hub', spokes: ['s1', 's2', 's3'] }],
    });
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await topology?.close();
  });

  it('purges up to the slowest transport, on a fresh connection, with no driver warning', async () => {
    const hub = topology.handles.hub.client;
    for (let i = 0; i < 5; i++)
      await hub.query(
        `INSERT INTO sales_order (order_id, order_type, description, product_type_name, customer_id, quantity, order_date)
         VALUES ($1, 'web', 'd', 'p', 'c', 1, '2025-01-01')`,
        [`p${i}`],
      );
    const hubTransports = topology.config.programs.filter((p) => p.type === 'transport' && p.from === 'hub');
    expect(hubTransports.length).toBe(3);
    // Two of the three spokes take the hub's changes; the third has not run.
    for (const program of hubTransports.slice(0, 2)) await runProgramOnce(topology.config, topology.nodes, program);
    await topology.nodes.closeAll(); // the purge's connection is new: it looks ds_program_parameter up first
    const [result] = await purge(topology.config, topology.nodes, 'hub');
    expect(result).toMatchObject({ node: 'hub', outboxUpTo: 0, outboxDeleted: 0 });
    await runProgramOnce(topology.config, topology.nodes, hubTransports[2]);
    const [after] = await purge(topology.config, topology.nodes, 'hub');
    expect(after.outboxDeleted).toBe(5);
    expect(await topology.count((await topology.nodes.get('hub')).client, 'SELECT count(*) FROM ds_change_outbox')).toBe(0);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(warnings).toEqual([]);
  });
});
