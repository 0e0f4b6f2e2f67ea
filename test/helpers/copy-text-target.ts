/** A transport destination with or without its COPY-text write, for the tests that compare the two paths. */
import type { BulkWriter } from '../../src/core/dialect.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';

/** The destination without insertCopyText: the transport binds the batch's values (the path before COPY text). */
export function boundTarget(target: NodeHandle): NodeHandle {
  const { insertCopyText: _, ...bulk } = target.dialect.bulk!;
  return { ...target, dialect: { ...target.dialect, bulk } };
}

/** The destination, counting the batches its brand took as COPY text and those it handed back. */
export function countedTarget(target: NodeHandle): { target: NodeHandle; counts: { copied: number; refused: number } } {
  const bulk = target.dialect.bulk!;
  const counts = { copied: 0, refused: 0 };
  const insertCopyText: BulkWriter['insertCopyText'] = async (...args) => {
    const copied = await bulk.insertCopyText!(...args);
    counts[copied ? 'copied' : 'refused']++;
    return copied;
  };
  return { target: { ...target, dialect: { ...target.dialect, bulk: { ...bulk, insertCopyText } } }, counts };
}
