/** Says once, before any test, which databases this run uses and why some are skipped. */
import { liveDialects } from './databases.ts';

export default async function setup(): Promise<void> {
  const live = await liveDialects();
  console.log(
    `dsync tests: live dialects ${live.join(', ')}${process.env.MSSQL_URL ? '' : ' (SQL Server: generated SQL and unit tests only; set MSSQL_URL to run its live suite)'}`,
  );
}
