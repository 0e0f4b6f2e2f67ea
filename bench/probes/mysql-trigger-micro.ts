/**
 * What one step of a MariaDB trigger costs: small AFTER INSERT trigger bodies on a scratch
 * table, each fired by one INSERT … SELECT of N rows, priced by the session's server-thread
 * CPU per row (best of ROUNDS). The outbox and version-store copies have the columns of
 * ds_change_outbox and ds_row_version (no fence trigger). Not a benchmark case: evidence
 * for docs/performance.md ("Issue 13, MariaDB capture: fewer steps per row").
 *
 *   npx tsx bench/probes/mysql-trigger-micro.ts [N=30000] [ROUNDS=3]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';

const n = Number(process.argv[2] ?? 30000);
const rounds = Number(process.argv[3] ?? 3);
const TS = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))";
const ten = (step: string) => Array(10).fill(step).join('\n');
const patch =
  "CONCAT('{', SUBSTRING(REPLACE(CONCAT(',\"quantity\":', CHAR(1 USING utf8mb4)), CHAR(1 USING utf8mb4), CONCAT('[', NEW.b, ',\"srv\"]')), 2), '}')";
const OUTBOX_HEAD = `INSERT INTO ob (object_database, object_table, object_pk_attribute, object_attribute, object_id, object_value,
  object_operation, updated_by_server_id, updated_by_user_id`;

const VARIANTS: Record<string, string> = {
  'no trigger': '',
  'DO 0': 'DO 0;',
  '10 SET local = const': `DECLARE x INT;\n${ten('SET x = 1;')}`,
  '10 SET @user = const': ten('SET @x = 1;'),
  '10 DECLARE': Array.from({ length: 10 }, (_, i) => `DECLARE x${i} INT;`).join('\n'),
  '10 IF local': `DECLARE x INT DEFAULT 0;\n${ten('IF x = 1 THEN SET x = 2; END IF;')}`,
  "10 IF NOT (@v <=> 'off')": ten("IF NOT (@dsync_capture <=> 'off') THEN SET @zz = NULL; END IF;"),
  '10 IF @v IS NULL': ten('IF @dsync_capture IS NULL THEN SET @zz = NULL; END IF;'),
  '10 JSON_MERGE_PATCH(stamps)': `DECLARE x LONGTEXT;\n${ten(`SET x = JSON_MERGE_PATCH('{"a":[1,"s"]}', ${patch});`)}`,
  '10 stamps only': `DECLARE x LONGTEXT;\n${ten(`SET x = ${patch};`)}`,
  '10 JSON_SET one member': `DECLARE x LONGTEXT;\n${ten(`SET x = JSON_SET('{"a":[1,"s"]}', '$.quantity', JSON_ARRAY(NEW.b, 'srv'));`)}`,
  'entry IODKU (new key)': `INSERT INTO rv (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
    VALUES ('t', NEW.a, 1, ${TS}, ${TS}, 'srv', '{}')
    ON DUPLICATE KEY UPDATE cl = (@dsync_cl := cl + IF(cl % 2 = 0, 1, 2)), base_version = GREATEST(@dsync_version, max_version + 1),
      base_server = 'srv', col_versions = '{}', max_version = (@dsync_version := GREATEST(@dsync_version, max_version + 1));`,
  'outbox row, origin constants': `${OUTBOX_HEAD}, row_cl, change_version)
    VALUES ('n', 't', 'id', 'id,a,b', NEW.a, '{"x":1}', 'I', 'srv', LEFT(USER(), 128), 1, 5);`,
  'outbox row, origin flag read': `${OUTBOX_HEAD}, update_datetime, origin_change_id, row_cl, change_version)
    VALUES ('n', 't', 'id', 'id,a,b', NEW.a, '{"x":1}', 'I', COALESCE(@dsync_origin_server, 'srv'),
      IF(@dsync_origin_server IS NULL, LEFT(USER(), 128), @dsync_origin_user), COALESCE(@dsync_origin_time, UTC_TIMESTAMP(6)),
      @dsync_origin_change_id, 1, 5);`,
};

const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root', multipleStatements: true });
try {
  await c.query(
    'DROP DATABASE IF EXISTS ds_trigger_micro; CREATE DATABASE ds_trigger_micro CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; USE ds_trigger_micro; SET NAMES utf8mb4 COLLATE utf8mb4_general_ci',
  );
  const [[{ tid }]] = (await c.query('SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()')) as unknown as [
    [{ tid: number }],
  ];
  const pid = execFileSync('pgrep', ['-o', 'mariadbd']).toString().trim();
  const cpuMs = () => {
    const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  const best: Record<string, number> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, body] of Object.entries(VARIANTS)) {
      await c.query(`DROP TABLE IF EXISTS t, rv, ob;
        CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(20), b INT) ENGINE = InnoDB;
        CREATE TABLE rv (table_name VARCHAR(64) NOT NULL, row_key VARCHAR(700) NOT NULL, cl BIGINT NOT NULL, max_version BIGINT NOT NULL,
          base_version BIGINT NOT NULL, base_server VARCHAR(64) NOT NULL, col_versions LONGTEXT NOT NULL, PRIMARY KEY (table_name, row_key)) ENGINE = InnoDB;
        CREATE TABLE ob (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, object_database TEXT, object_table TEXT NOT NULL, object_pk_attribute TEXT,
          object_attribute MEDIUMTEXT, object_id MEDIUMTEXT, object_id_old MEDIUMTEXT, object_value LONGTEXT, object_value_old LONGTEXT,
          object_operation VARCHAR(1) NOT NULL CHECK (object_operation IN ('I', 'U', 'D')), object_operation_command LONGTEXT,
          updated_by_server_id VARCHAR(64), updated_by_user_id TEXT, update_datetime DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)), note1 TEXT,
          origin_change_id BIGINT, txn_id BIGINT, row_cl BIGINT, row_cl_old BIGINT, change_version BIGINT) ENGINE = InnoDB;`);
      if (body) await c.query(`CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW BEGIN\n${body}\nEND`);
      const before = cpuMs();
      await c.query(`INSERT INTO t SELECT seq, CONCAT('k', seq), seq FROM seq_1_to_${n}`);
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, ((cpuMs() - before) * 1000) / n);
    }
  }
  console.log(`mariadbd session CPU per inserted row, µs, best of ${rounds} (${n} rows each)`);
  for (const [name, us] of Object.entries(best)) console.log(`${name.padEnd(34)} ${us.toFixed(2)}`);
} finally {
  await c.query('DROP DATABASE IF EXISTS ds_trigger_micro').catch(() => undefined);
  await c.end();
}
