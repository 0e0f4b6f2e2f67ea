/**
 * Renders a sync object's template for one dialect and formats the result. One
 * Handlebars environment per dialect, `noEscape` and `strict`: SQL text for names and
 * values comes only from the `ident`/`lit` helpers and the dialect's helpers.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type HandlebarsType from 'handlebars';
import type * as SqlFormatter from 'sql-formatter';
import type { Dialect } from '../core/dialect.ts';
import { TemplateError } from '../core/errors.ts';
import { lazyRequire } from '../core/lazy-require.ts';
import { tableRef } from '../core/table-ref.ts';

const handlebars = lazyRequire<typeof HandlebarsType>('handlebars');
const handlebarsRuntime = lazyRequire<typeof HandlebarsType>('handlebars/runtime');
const sqlFormatter = lazyRequire<typeof SqlFormatter>('sql-formatter');

const HERE = dirname(fileURLToPath(import.meta.url));
export const TEMPLATES_DIR = join(HERE, '..', '..', 'templates');

/** How every template is compiled, at run time or by the build (precompile-templates.ts). */
export const COMPILE_OPTIONS = { noEscape: true, strict: true } as const;

/**
 * The build's precompiled templates of a dialect (precompile-templates.ts), beside the
 * compiled module in dist/; absent when running from src/. Keyed by template name, each
 * with the hash of the text it was made from (templateHash).
 */
export const precompiledFile = (dialect: string) => join(HERE, `templates.${dialect}.cjs`);

export type PrecompiledTemplates = Record<string, { hash: string; spec: object }>;

/** The hash a precompiled template is matched by: a template edited after the build is compiled as before. */
export function templateHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function precompiledTemplates(dialect: string): PrecompiledTemplates | null {
  const file = precompiledFile(dialect);
  return existsSync(file) ? (createRequire(import.meta.url)(file) as PrecompiledTemplates) : null;
}

export interface Renderer {
  /** Renders `templates/<dialect>/<name>.sql.hbs` and returns its statements, each formatted. */
  render(name: string, context: object): string[];
}

const renderers = new Map<Dialect, Renderer>();

export function rendererFor(dialect: Dialect): Renderer {
  let renderer = renderers.get(dialect);
  if (!renderer) {
    renderer = createRenderer(dialect);
    renderers.set(dialect, renderer);
  }
  return renderer;
}

/** A Handlebars environment (`full`: with the compiler) with dsync's helpers and the dialect's. */
function environment(dialect: Dialect, full: boolean): typeof HandlebarsType {
  const hbs = (full ? handlebars() : handlebarsRuntime()).create();
  const { sql } = dialect;
  hbs.registerHelper('ident', (name: unknown) => sql.ident(String(name)));
  hbs.registerHelper('lit', (value: unknown) => sql.literal(value as string | number | boolean | null));
  hbs.registerHelper('qualified', (table: { name: string; schema: string | null }) => tableRef(sql, table));
  hbs.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).join(''));
  hbs.registerHelper('comment', (text: unknown) => commentText(String(text)));
  for (const [helper, fn] of Object.entries(dialect.templateHelpers)) {
    hbs.registerHelper(helper, (...args: unknown[]) => fn(...args.slice(0, -1)));
  }
  return hbs;
}

/**
 * Renders with the build's precompiled templates where they match the template files, which
 * needs only Handlebars' runtime (`dsync status` and `generate` start faster); any other
 * template is compiled from its file, as when running from src/.
 */
export function createRenderer(dialect: Dialect, built = precompiledTemplates(dialect.name)): Renderer {
  let runtime: typeof HandlebarsType | undefined;
  let compiler: typeof HandlebarsType | undefined;
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  const template = (name: string) => {
    let found = compiled.get(name);
    if (!found) {
      const path = join(TEMPLATES_DIR, dialect.name, `${name}.sql.hbs`);
      if (!existsSync(path)) {
        throw new TemplateError('template_missing', `no ${name} template for dialect ${dialect.name} (${path})`, {
          hint: 'the dialect does not support this object yet; this is a bug in dsync, please report it',
        });
      }
      const text = readFileSync(path, 'utf8');
      const entry = built?.[name];
      if (entry && entry.hash === templateHash(text)) {
        runtime ??= environment(dialect, false);
        found = runtime.template(entry.spec as TemplateSpecification);
      } else {
        compiler ??= environment(dialect, true);
        found = compiler.compile(text, COMPILE_OPTIONS);
      }
      compiled.set(name, found);
    }
    return found;
  };
  return {
    render(name, context) {
      let text: string;
      try {
        text = template(name)(context);
      } catch (error) {
        if (error instanceof TemplateError) throw error;
        throw new TemplateError(
          'template_failed',
          `template ${dialect.name}/${name} failed: ${(error as Error).message}`,
          {},
          { cause: error },
        );
      }
      return dialect.splitScript(text).map((statement) => formatStatement(dialect, statement));
    },
  };
}

/** Text safe inside a `--` comment: a line break in a name cannot end the comment early. */
export function commentText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, '?');
}

/**
 * Formats plain DDL and DML with sql-formatter; statements with procedural bodies
 * (functions, triggers) are kept as the template lays them out, since a formatter
 * that does not know the procedural language would only make them harder to read.
 */
function formatStatement(dialect: Dialect, statement: string): string {
  const procedural = /\b(FUNCTION|TRIGGER|PROCEDURE)\b/i.test(statement.split('\n').find((l) => !l.startsWith('--')) ?? '');
  if (!dialect.formatterLanguage || procedural) return statement.trim();
  try {
    return sqlFormatter().format(statement, { language: dialect.formatterLanguage as 'postgresql', keywordCase: 'upper', tabWidth: 2 });
  } catch {
    return statement.trim();
  }
}
