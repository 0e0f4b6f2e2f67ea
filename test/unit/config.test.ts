import { describe, expect, it } from 'vitest';
import { captureMode, parseConfig, queryCaptureSettings } from '../../src/config/config.ts';
import { ConfigError } from '../../src/core/errors.ts';

const base = {
  nodes: {
    testapp1: { dialect: 'postgres', url: 'postgres://${PGUSER}@localhost:5432/testapp1', serverId: 'server1' },
    testapp2: { dialect: 'sqlite', url: 'testapp2.db', serverId: 'server2' },
  },
  tables: [{ name: 'sales_order', conflict: 'latest-wins' }, 'order_line'],
  programs: [
    { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
    { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
  ],
  http: { port: 9464 },
};

describe('parseConfig', () => {
  it("accepts DESIGN.md's example, expanding ${VAR} and anchoring SQLite paths to the config's folder", () => {
    const config = parseConfig(base, '/etc/dsync', '/etc/dsync/dsync.config.json', { PGUSER: 'app' });
    expect(config.nodes.testapp1.url).toBe('postgres://app@localhost:5432/testapp1');
    expect(config.nodes.testapp2.url).toBe('/etc/dsync/testapp2.db');
    expect(config.tables).toEqual([
      { name: 'sales_order', conflict: 'latest-wins', capture: 'trigger' },
      { name: 'order_line', conflict: 'latest-wins', capture: 'trigger' },
    ]);
    expect(config.programs[0]).toMatchObject({
      id: 1000,
      from: 'testapp1',
      to: 'testapp2',
      batchSize: 1000,
      name: 'transport testapp1 -> testapp2',
    });
    expect(config.programs[1]).toEqual({
      id: 1001,
      type: 'import',
      name: 'import testapp2',
      node: 'testapp2',
      intervalSeconds: 5,
      batchSize: 1000,
      failAfterSeconds: 45,
    });
    expect(config.generatedDir).toBe('/etc/dsync/generated');
  });

  const bad: Array<[string, (c: any) => void, RegExp]> = [
    ['unset variable', () => undefined, /config nodes\.testapp1\.url: environment variable PGUSER is not set/],
    ['unknown dialect', (c) => (c.nodes.testapp1.dialect = 'oracle'), /config nodes\.testapp1\.dialect:/],
    ['unknown key', (c) => (c.nodes.testapp1.password = 'x'), /config nodes\.testapp1: .*password/i],
    [
      'duplicate serverId',
      (c) => (c.nodes.testapp2.serverId = 'server1'),
      /nodes\.testapp2\.serverId: "server1" is also the serverId of testapp1/,
    ],
    ['duplicate table', (c) => c.tables.push('sales_order'), /tables\[2\]: table sales_order is listed twice/],
    ['bad policy', (c) => (c.tables[0].conflict = 'newest'), /tables\.0\.conflict/],
    ['duplicate program id', (c) => (c.programs[1].id = 1000), /programs\[1\]\.id: program id 1000 is used twice/],
    ['transport to itself', (c) => (c.programs[0].to = 'testapp1'), /programs\[0\]\.to: a transport program needs two different nodes/],
    ['import without node', (c) => delete c.programs[1].node, /programs\[1\]\.node: a import program needs "node"/],
    ['no tables', (c) => (c.tables = []), /config tables: list at least one table/],
    ['unknown capture mode', (c) => (c.tables[0].capture = 'cdc'), /config tables\.0\.capture:/],
    [
      'capture mode log on a node that is not PostgreSQL',
      (c) => (c.nodes.testapp2.capture = { order_line: 'log' }),
      /^config nodes\.testapp2\.capture\.order_line: capture mode log reads PostgreSQL's change log, and node testapp2 is sqlite; set "nodes\.testapp2\.capture": \{ "order_line": "trigger" \} \(or api\) for it$/,
    ],
    [
      'capture mode log on a table with a node that is not PostgreSQL',
      (c) => (c.tables[1] = { name: 'order_line', capture: 'log' }),
      /^config tables\[1\]\.capture: capture mode log reads PostgreSQL's change log, and node testapp2 is sqlite; /,
    ],
    ['a bad overlap', (c) => (c.tables[0] = { name: 'sales_order', overlapSeconds: -1 }), /config tables\.0\.overlapSeconds:/],
    [
      'a transport to a send-only node',
      (c) => (c.nodes.testapp2.sendOnly = true),
      /^config programs\[0\]: transport program 1000 sends to node testapp2, which is sendOnly; remove the program \(or link\), or remove "sendOnly" from nodes\.testapp2, regenerate and apply$/,
    ],
    [
      'an import into a send-only node',
      (c) => {
        c.nodes.testapp2.sendOnly = true;
        c.programs.shift();
      },
      /^config programs\[0\]: import program 1001 imports into node testapp2, which is sendOnly; /,
    ],
    ['a sendOnly that is not a boolean', (c) => (c.nodes.testapp1.sendOnly = 'yes'), /^config nodes\.testapp1\.sendOnly: /],
    [
      'a node both sendOnly and receiveOnly',
      (c) => Object.assign(c.nodes.testapp1, { sendOnly: true, receiveOnly: true }),
      /^config nodes\.testapp1\.receiveOnly: a node cannot be both sendOnly and receiveOnly; /,
    ],
    [
      'a capture override on a receive-only node',
      (c) => Object.assign(c.nodes.testapp2, { receiveOnly: true, capture: { order_line: 'keys' } }),
      /^config nodes\.testapp2\.capture: a receiveOnly node captures nothing; remove nodes\.testapp2\.capture$/,
    ],
    [
      'a transport from a receive-only node',
      (c) => (c.nodes.testapp1.receiveOnly = true),
      /^config programs\[0\]: transport program 1000 sends from node testapp1, which is receiveOnly; remove the program \(or link\), or remove "receiveOnly" from nodes\.testapp1$/,
    ],
    [
      'a receive-only node whose upstream imports',
      (c) => {
        c.nodes.testapp2.receiveOnly = true;
        c.programs.push({ id: 1002, type: 'import', node: 'testapp1' });
      },
      /^config programs\[2\]: node testapp2 is receiveOnly, and its upstream testapp1 imports \(program 1002\); feed testapp2 from a node that imports nothing, /,
    ],
    [
      'a node override of an unknown table',
      (c) => (c.nodes.testapp2.capture = { sales_orders: 'api' }),
      /^config nodes\.testapp2\.capture\.sales_orders: unknown table "sales_orders"; tables are sales_order, order_line$/,
    ],
  ];
  it.each(bad)('rejects %s with one line naming the key', (_, mutate, message) => {
    const config = structuredClone(base);
    mutate(config);
    const env = _ === 'unset variable' ? {} : { PGUSER: 'app' };
    const error = (() => {
      try {
        parseConfig(config, '/x', null, env);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('captureMode', () => {
  it("is the table's mode on every node unless a node overrides it; trigger by default", () => {
    const raw = structuredClone(base) as any;
    raw.tables = [{ name: 'sales_order', capture: 'api' }, 'order_line'];
    raw.nodes.testapp2.capture = { sales_order: 'trigger', order_line: 'api' };
    const config = parseConfig(raw, '/x', null, { PGUSER: 'app' });
    expect(captureMode(config, 'testapp1', 'sales_order')).toBe('api');
    expect(captureMode(config, 'testapp1', 'order_line')).toBe('trigger');
    expect(captureMode(config, 'testapp2', 'sales_order')).toBe('trigger');
    expect(captureMode(config, 'testapp2', 'order_line')).toBe('api');
    expect(captureMode(parseConfig(base, '/x', null, { PGUSER: 'app' }), 'testapp2', 'sales_order')).toBe('trigger');
    raw.nodes.testapp1.capture = { order_line: 'log' };
    expect(captureMode(parseConfig(raw, '/x', null, { PGUSER: 'app' }), 'testapp1', 'order_line')).toBe('log');
  });

  it('takes mode query, on a table or a node, with the query keys and their defaults', () => {
    const raw = structuredClone(base) as any;
    raw.tables = [{ name: 'sales_order', capture: 'query', updateTimeColumn: 'changed_at', overlapSeconds: 5 }, 'order_line'];
    raw.nodes.testapp2.capture = { order_line: 'query' };
    const config = parseConfig(raw, '/x', null, { PGUSER: 'app' });
    expect(captureMode(config, 'testapp1', 'sales_order')).toBe('query');
    expect(captureMode(config, 'testapp2', 'order_line')).toBe('query');
    expect(queryCaptureSettings(config, 'sales_order')).toEqual({ updateTimeColumn: 'changed_at', overlapSeconds: 5, deleteScanEvery: 10 });
    expect(queryCaptureSettings(config, 'order_line')).toEqual({
      updateTimeColumn: 'update_datetime',
      overlapSeconds: 60,
      deleteScanEvery: 10,
    });
  });
});

describe('links', () => {
  const nodes = {
    a: { dialect: 'sqlite', url: 'a.db', serverId: 'sa' },
    b: { dialect: 'sqlite', url: 'b.db', serverId: 'sb' },
    c: { dialect: 'sqlite', url: 'c.db', serverId: 'sc' },
  };
  const ids = (config: ReturnType<typeof parseConfig>) =>
    config.programs.map((p) => (p.type === 'transport' ? `${p.id} ${p.from}>${p.to}` : `${p.id} import ${p.node}`));

  it("a pair both ways is the seed's 1000-1003", () => {
    expect(ids(parseConfig({ nodes, tables: ['t'], links: [{ between: ['a', 'b'] }] }, '/x', null))).toEqual([
      '1000 a>b',
      '1001 import b',
      '1002 b>a',
      '1003 import a',
    ]);
  });

  it('a hub with spokes, numbered after explicit programs, one import per node', () => {
    const config = parseConfig(
      {
        nodes,
        tables: ['t'],
        programs: [{ id: 2000, type: 'import', node: 'a' }],
        links: [{ hub: 'a', spokes: ['b', 'c'], intervalSeconds: 1 }],
      },
      '/x',
      null,
    );
    expect(ids(config)).toEqual(['2000 import a', '2001 a>b', '2002 import b', '2003 b>a', '2004 a>c', '2005 import c', '2006 c>a']);
    expect(config.programs.every((p) => p.id === 2000 || p.intervalSeconds === 1)).toBe(true);
  });

  it('a link with via sends both of its transports through NATS, the others stay direct', () => {
    const config = parseConfig(
      { nodes, tables: ['t'], links: [{ between: ['a', 'b'] }, { between: ['b', 'c'], via: 'nats://127.0.0.1:4222' }] },
      '/x',
      null,
    );
    const via = config.programs.flatMap((p) => (p.type === 'transport' ? [`${p.from}>${p.to} ${p.via ?? 'direct'}`] : []));
    expect(via).toEqual(['a>b direct', 'b>a direct', 'b>c nats://127.0.0.1:4222', 'c>b nats://127.0.0.1:4222']);
    expect(() => parseConfig({ nodes, tables: ['t'], links: [{ between: ['a', 'b'], via: 'http://x' }] }, '/x', null)).toThrow(
      /use nats:\/\/HOST:PORT/,
    );
  });

  it('a send-only node may feed a link-less peer, and no link may lead into it', () => {
    const oneWay = parseConfig(
      {
        nodes: { ...nodes, a: { ...nodes.a, sendOnly: true } },
        tables: ['t'],
        programs: [{ id: 1, type: 'transport', from: 'a', to: 'b' }],
      },
      '/x',
      null,
    );
    expect(oneWay.nodes.a.sendOnly).toBe(true);
    expect(oneWay.nodes.b.sendOnly).toBeUndefined();
    expect(() =>
      parseConfig(
        { nodes: { ...nodes, c: { ...nodes.c, sendOnly: true } }, tables: ['t'], links: [{ hub: 'a', spokes: ['b', 'c'] }] },
        '/x',
        null,
      ),
    ).toThrow(/^config links: transport program 1004 sends to node c, which is sendOnly; /);
  });

  it('a receive-only node takes one upstream that imports nothing, captures nothing, and no link may leave it', () => {
    const replica = parseConfig(
      {
        nodes: { ...nodes, a: { ...nodes.a, sendOnly: true }, b: { ...nodes.b, receiveOnly: true } },
        tables: [{ name: 't', capture: 'keys' }],
        programs: [
          { id: 1, type: 'transport', from: 'a', to: 'b' },
          { id: 3, type: 'import', node: 'b' },
        ],
      },
      '/x',
      null,
    );
    expect(replica.nodes.b.receiveOnly).toBe(true);
    expect(replica.nodes.a.receiveOnly).toBeUndefined();
    expect(captureMode(replica, 'b', 't')).toBe('api');
    expect(captureMode(replica, 'a', 't')).toBe('keys');
    // b is the replica in each: a config of these programs or links.
    const withReplica = (more: object) => () =>
      parseConfig({ nodes: { ...nodes, b: { ...nodes.b, receiveOnly: true } }, tables: ['t'], ...more }, '/x', null);
    const toB = { id: 1, type: 'transport', from: 'a', to: 'b' };
    // a receives from c here: b's changes would come from two writers, in an order their versions do not follow.
    expect(withReplica({ programs: [toB, { id: 2, type: 'transport', from: 'c', to: 'a' }] })).toThrow(
      /^config programs\[1\]: node b is receiveOnly, and its upstream a receives from c \(program 2\); /,
    );
    expect(withReplica({ programs: [toB, { id: 2, type: 'transport', from: 'c', to: 'b' }] })).toThrow(
      /^config nodes\.b\.receiveOnly: node b is receiveOnly but nodes a and c send to it; feed it from one node, or remove "receiveOnly"$/,
    );
    expect(withReplica({ links: [{ between: ['a', 'b'] }] })).toThrow(
      /^config links: transport program \d+ sends from node b, which is receiveOnly; /,
    );
  });

  it('directApply is for a node fed by one direct transport, with an import program there', () => {
    const direct = (b: object, programs: object[]) => () =>
      parseConfig({ nodes: { ...nodes, b: { ...nodes.b, ...b } }, tables: ['t'], programs }, '/x', null);
    const toB = { id: 1, type: 'transport', from: 'a', to: 'b' };
    const importB = { id: 2, type: 'import', node: 'b' };
    const back = [
      { id: 4, type: 'transport', from: 'b', to: 'a' },
      { id: 5, type: 'import', node: 'a' },
    ];
    expect(direct({ receiveOnly: true, directApply: true }, [toB, importB])().nodes.b.directApply).toBe(true);
    // A node that keeps versions too, both ways.
    expect(direct({ directApply: true }, [toB, importB, ...back])().nodes.b.directApply).toBe(true);
    expect(direct({ sendOnly: true, directApply: true }, back)).toThrow(
      /^config nodes\.b\.directApply: a sendOnly node receives nothing to apply; remove "directApply" from nodes\.b, or "sendOnly" if it should receive/,
    );
    expect(direct({ directApply: true }, [toB])).toThrow(
      /^config nodes\.b\.directApply: node b is directApply but no import program runs there to take the changes that must wait; add an import program for b \(or a link to it\)/,
    );
    expect(direct({ directApply: true }, [{ ...toB, via: 'nats://127.0.0.1:4222' }, importB])).toThrow(
      /^config programs\[0\]: transport program 1 reaches directApply node b through NATS, which delivers into the inbox; remove "via" from it, or remove "directApply" from nodes\.b/,
    );
    expect(direct({ directApply: true }, [toB, { ...toB, id: 3 }, importB])).toThrow(
      /^config nodes\.b\.directApply: node b is directApply and transport programs 1 and 3 send to it; keep one, or remove "directApply"/,
    );
  });

  it('refuses an unknown node and a direction defined twice, naming the key', () => {
    expect(() => parseConfig({ nodes, tables: ['t'], links: [{ between: ['a', 'zz'] }] }, '/x', null)).toThrow(
      /links\[0\]: unknown node "zz"/,
    );
    expect(() => parseConfig({ nodes, tables: ['t'], links: [{ between: ['a', 'b'] }, { hub: 'b', spokes: ['a'] }] }, '/x', null)).toThrow(
      /links\[1\]: transport b -> a is defined twice/,
    );
  });
});

describe('capture mode log brands', () => {
  it('are exactly the dialects with a change-log port', async () => {
    const { DIALECT_NAMES } = await import('../../src/core/dialect.ts');
    const { getDialect } = await import('../../src/dialects/registry.ts');
    const { CHANGE_LOG_DIALECTS } = await import('../../src/dialects/change-log-brands.ts');
    for (const name of DIALECT_NAMES)
      expect(CHANGE_LOG_DIALECTS.includes(name), name).toBe((await getDialect(name)).changeLog !== undefined);
  });
});
