/**
 * The last step of `npm run build` (`node dist/generate/precompile-templates.js`): every
 * templates/<dialect>/<name>.sql.hbs precompiled by Handlebars into its dialect's
 * precompiledFile, each with the hash of the text it was made from. render.ts then needs only Handlebars'
 * runtime, not its compiler, for every template that has not changed since the build.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type HandlebarsType from 'handlebars';
import { COMPILE_OPTIONS, precompiledFile, TEMPLATES_DIR, templateHash } from './render.ts';

const SUFFIX = '.sql.hbs';

/** The CommonJS module of every template of `dialect` under `dir`, precompiled, keyed by name. */
export function precompiledModule(dialect: string, dir = TEMPLATES_DIR): string {
  const handlebars = createRequire(import.meta.url)('handlebars') as typeof HandlebarsType;
  const entries: string[] = [];
  const files = readdirSync(join(dir, dialect)).filter((f) => f.endsWith(SUFFIX));
  for (const file of files.sort()) {
    const text = readFileSync(join(dir, dialect, file), 'utf8');
    const name = JSON.stringify(file.slice(0, -SUFFIX.length));
    entries.push(`  ${name}: { hash: ${JSON.stringify(templateHash(text))}, spec: ${handlebars.precompile(text, COMPILE_OPTIONS)} },`);
  }
  return `// Written by npm run build (src/generate/precompile-templates.ts); do not edit.\nmodule.exports = {\n${entries.join('\n')}\n};\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const dialect of readdirSync(TEMPLATES_DIR)) writeFileSync(precompiledFile(dialect), precompiledModule(dialect));
}
