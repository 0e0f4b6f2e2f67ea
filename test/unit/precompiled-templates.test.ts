/**
 * The build precompiles every template (src/generate/precompile-templates.ts) so that the
 * installed CLI renders with Handlebars' runtime alone (render.ts). A precompiled template
 * is used only while its hash matches the template file; an edited file is compiled as
 * before. generated-snapshot.test.ts renders every fixture through the built CLI (so
 * through these files) and compares byte for byte; this checks the choice itself, and that
 * the build wrote a current file for every dialect.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { precompiledModule } from '../../src/generate/precompile-templates.ts';
import { createRenderer, type PrecompiledTemplates, TEMPLATES_DIR, templateHash } from '../../src/generate/render.ts';
import { ROOT } from '../helpers/fixtures.ts';

/** The module text evaluated as the CLI's require would. */
function evaluate(source: string): PrecompiledTemplates {
  const module = { exports: {} as PrecompiledTemplates };
  new Function('module', source)(module);
  return module.exports;
}

const templateText = (dialect: string, name: string) => readFileSync(join(TEMPLATES_DIR, dialect, `${name}.sql.hbs`), 'utf8');

describe('precompiled templates', () => {
  const built = evaluate(precompiledModule('sqlite'));

  it('render as the compiled template does', () => {
    expect(createRenderer(sqliteDialect, built).render('ledger', {})).toEqual(createRenderer(sqliteDialect, null).render('ledger', {}));
  });

  it('are used while their hash matches the file, and an edited file is compiled instead', () => {
    const ledger = createRenderer(sqliteDialect, null).render('ledger', {});
    const program = createRenderer(sqliteDialect, null).render('program_parameter', {});
    // Another template's precompiled form under the ledger's current hash: the renderer takes it, so it is used.
    const swapped = { ledger: { hash: templateHash(templateText('sqlite', 'ledger')), spec: built.program_parameter.spec } };
    expect(createRenderer(sqliteDialect, swapped).render('ledger', {})).toEqual(program);
    // The same under a hash the file no longer has: the file is compiled.
    const stale = { ledger: { hash: templateHash('an older text'), spec: built.program_parameter.spec } };
    expect(createRenderer(sqliteDialect, stale).render('ledger', {})).toEqual(ledger);
  });

  it('were written by the build for every template of every dialect, current', () => {
    for (const dialect of readdirSync(TEMPLATES_DIR)) {
      const file = join(ROOT, 'dist', 'generate', `templates.${dialect}.cjs`);
      expect(existsSync(file), `${file}: run npm run build`).toBe(true);
      const written = evaluate(readFileSync(file, 'utf8'));
      const names = readdirSync(join(TEMPLATES_DIR, dialect)).map((f) => f.replace(/\.sql\.hbs$/, ''));
      expect(Object.keys(written).sort()).toEqual(names.sort());
      for (const name of names) expect(written[name].hash, `${dialect}/${name}`).toBe(templateHash(templateText(dialect, name)));
    }
  });
});
