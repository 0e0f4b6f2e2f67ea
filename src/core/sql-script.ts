/**
 * Splits a SQL script into statements, so that `apply` can run and report them one by
 * one. It understands what our generated files contain: quotes, comments, PostgreSQL
 * dollar quotes, trigger bodies (BEGIN … END, with CASE … END inside), MySQL
 * `DELIMITER` lines and SQL Server `GO` batch lines.
 */
export interface SplitOptions {
  /** PostgreSQL `$tag$ … $tag$` bodies. */
  dollarQuotes?: boolean;
  /** SQLite trigger bodies: `;` inside BEGIN … END does not end the statement. */
  beginEndBlocks?: boolean;
  /** MySQL client `DELIMITER xx` lines change the terminator. */
  delimiterDirective?: boolean;
  /** SQL Server: statements are batches separated by lines holding only `GO`. */
  goBatches?: boolean;
  /** MySQL: backslash escapes inside quoted strings. */
  backslashEscapes?: boolean;
}

export function splitSqlScript(script: string, options: SplitOptions = {}): string[] {
  if (options.goBatches) {
    return script
      .split(/^\s*GO\s*;?\s*$/gim)
      .map((s) => s.trim())
      .filter((s) => stripComments(s).trim() !== '');
  }
  const statements: string[] = [];
  let delimiter = ';';
  let start = 0;
  let depth = 0;
  let i = 0;
  const push = (end: number) => {
    const text = script.slice(start, end).trim();
    if (stripComments(text).trim() !== '') statements.push(text);
  };
  while (i < script.length) {
    const ch = script[i];
    const rest2 = script.slice(i, i + 2);
    if (options.delimiterDirective && (i === 0 || script[i - 1] === '\n')) {
      const m = /^DELIMITER[ \t]+(\S+)[ \t]*(?:\r?\n|$)/i.exec(script.slice(i));
      if (m) {
        push(i);
        delimiter = m[1];
        i += m[0].length;
        start = i;
        continue;
      }
    }
    if (rest2 === '--') {
      const nl = script.indexOf('\n', i);
      i = nl < 0 ? script.length : nl + 1;
      continue;
    }
    if (rest2 === '/*') {
      const close = script.indexOf('*/', i + 2);
      i = close < 0 ? script.length : close + 2;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      i = skipQuoted(script, i, ch, options.backslashEscapes === true && ch !== '`');
      continue;
    }
    if (ch === '$' && options.dollarQuotes) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i));
      if (m) {
        const close = script.indexOf(m[0], i + m[0].length);
        i = close < 0 ? script.length : close + m[0].length;
        continue;
      }
    }
    if (options.beginEndBlocks && /[A-Za-z_]/.test(ch) && (i === 0 || !/[A-Za-z0-9_$]/.test(script[i - 1]))) {
      const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(script.slice(i))![0];
      const upper = word.toUpperCase();
      if (upper === 'BEGIN' || upper === 'CASE') depth++;
      else if (upper === 'END' && depth > 0) depth--;
      i += word.length;
      continue;
    }
    if (depth === 0 && script.startsWith(delimiter, i)) {
      push(i);
      i += delimiter.length;
      start = i;
      continue;
    }
    i++;
  }
  push(script.length);
  return statements;
}

function skipQuoted(script: string, i: number, quote: string, backslash: boolean): number {
  let j = i + 1;
  while (j < script.length) {
    if (backslash && script[j] === '\\') {
      j += 2;
      continue;
    }
    if (script[j] === quote) {
      if (script[j + 1] === quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return j;
}

function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
