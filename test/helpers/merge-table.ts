/** The small table the merge planner's unit tests plan against: an integer key and two text columns. */
import type { TableSchema } from '../../src/core/schema.ts';

export const mergeTable: TableSchema = {
  name: 't',
  schema: null,
  primaryKey: ['id'],
  columns: [
    { name: 'id', nativeType: 'integer', family: 'integer', nullable: false, default: null },
    { name: 'a', nativeType: 'text', family: 'text', nullable: true, default: null },
    { name: 'b', nativeType: 'text', family: 'text', nullable: true, default: null },
  ],
};
