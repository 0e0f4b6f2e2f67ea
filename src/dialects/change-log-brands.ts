/**
 * Brands whose change log dsync reads (capture mode log, docs/capture-modes.md#log): the
 * dialects with a `changeLog` port. A plain list, so that the config can check a node
 * without loading its dialect and driver.
 */
import type { DialectName } from '../core/dialect.ts';

export const CHANGE_LOG_DIALECTS: readonly DialectName[] = ['postgres'];
