/**
 * The NATS transport's config and names, no server needed: `via` on a transport only,
 * its credentials never printed, NATS-safe tokens that cannot collide, and which halves
 * a daemon scoped to one node runs.
 */
import { describe, expect, it } from 'vitest';
import { type Config, parseConfig, type TransportProgram } from '../../src/config/config.ts';
import { redactSecrets } from '../../src/core/redact.ts';
import { programScope } from '../../src/runtime/sync.ts';
import { natsNames, natsSettings, natsToken } from '../../src/runtime/transport/nats-transport.ts';

const raw = (programs: unknown[], extra: Record<string, unknown> = {}) => ({
  nodes: {
    'site.one': { dialect: 'postgres', url: 'postgres://app@db1/app', serverId: 's1' },
    two: { dialect: 'sqlite', url: 'two.db', serverId: 's2' },
  },
  tables: ['sales_order'],
  programs,
  ...extra,
});

describe('NATS transport config', () => {
  it('reads via with ${VAR} credentials and the nats defaults; the password never prints', () => {
    const config = parseConfig(
      raw([{ id: 1000, type: 'transport', from: 'site.one', to: 'two', via: 'nats://dsync:${NATS_PASS}@nats.example:4222' }]),
      '/etc/dsync',
      null,
      { NATS_PASS: 'n4ts-Secret' },
    );
    const program = config.programs[0] as TransportProgram;
    expect(program.via).toBe('nats://dsync:n4ts-Secret@nats.example:4222');
    expect(natsSettings(config)).toEqual({
      maxAgeSeconds: 604800,
      duplicateWindowSeconds: 120,
      ackWaitSeconds: 30,
      replicas: 1,
      streamPrefix: 'DSYNC',
      subjectPrefix: 'dsync',
    });
    expect(redactSecrets(`cannot reach ${program.via}: n4ts-Secret rejected`)).not.toContain('n4ts-Secret');
  });

  it('refuses via on an import and a via that is not a NATS URL', () => {
    expect(() => parseConfig(raw([{ id: 1001, type: 'import', node: 'two', via: 'nats://h:4222' }]), '/', null)).toThrow(
      /programs\[0\]\.via: only a transport program/,
    );
    expect(() => parseConfig(raw([{ id: 1000, type: 'transport', from: 'site.one', to: 'two', via: 'http://h:4222' }]), '/', null)).toThrow(
      /programs\.0\.via: use nats:\/\/HOST:PORT/,
    );
    expect(() => parseConfig(raw([], { nats: { streamPrefix: 'a.b' } }), '/', null)).toThrow(/nats\.streamPrefix/);
  });

  it('names the stream per source node and the consumer per program and destination, with NATS-safe tokens', () => {
    expect(natsToken('Odd Names')).toBe('Odd_20Names');
    expect(natsToken('a.b')).toBe('a_2eb');
    // `_` is escaped too, so distinct names never meet.
    expect(natsToken('a_2eb')).toBe('a_5f2eb');
    expect(natsToken('tä>*')).toBe('t_c3_a4_3e_2a');
    const config = parseConfig(
      raw([{ id: 1000, type: 'transport', from: 'site.one', to: 'two', via: 'nats://h:4222' }], {
        nats: { streamPrefix: 'X', subjectPrefix: 'x' },
      }),
      '/',
      null,
    );
    const names = natsNames(natsSettings(config), config.programs[0] as TransportProgram);
    expect(names).toMatchObject({ stream: 'X_site_2eone', subjects: 'x.site_2eone.>', consumer: 'dsync_1000_two' });
    expect(names.subject('Odd Names')).toBe('x.site_2eone.Odd_20Names');
  });

  it('a daemon scoped to a node runs the halves and programs that touch it', () => {
    const config: Config = parseConfig(
      raw([
        { id: 1000, type: 'transport', from: 'site.one', to: 'two', via: 'nats://h:4222' },
        { id: 1001, type: 'import', node: 'two' },
        { id: 1002, type: 'transport', from: 'two', to: 'site.one' },
      ]),
      '/',
      null,
    );
    const [viaNats, importTwo, direct] = config.programs;
    expect(programScope(viaNats)).toEqual({ publish: true, deliver: true });
    expect(programScope(viaNats, 'site.one')).toEqual({ publish: true, deliver: false });
    expect(programScope(viaNats, 'two')).toEqual({ publish: false, deliver: true });
    expect(programScope(importTwo, 'site.one')).toBeNull();
    expect(programScope(importTwo, 'two')).not.toBeNull();
    expect(programScope(direct, 'two')).not.toBeNull();
    expect(programScope(direct, 'site.one')).toBeNull();
  });
});
