/** Opens the database of a configured node through its dialect. */
import type { DbClient, Dialect } from '../core/dialect.ts';
import { getDialect } from '../dialects/registry.ts';
import { type Config, getNode, type NodeConfig } from '../config/config.ts';

export interface OpenNode {
  node: NodeConfig;
  dialect: Dialect;
  client: DbClient;
}

export async function openNode(config: Config, nodeName: string): Promise<OpenNode> {
  const node = getNode(config, nodeName);
  const dialect = await getDialect(node.dialect);
  const client = await dialect.connect(node.url, node.name);
  return { node, dialect, client };
}

/** Runs `fn` with the node open, and closes it whatever happens. */
export async function withNode<T>(config: Config, nodeName: string, fn: (open: OpenNode) => Promise<T>): Promise<T> {
  const open = await openNode(config, nodeName);
  try {
    return await fn(open);
  } finally {
    await open.client.close().catch(() => undefined);
  }
}
