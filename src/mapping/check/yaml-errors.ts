import type { YAMLError } from 'yaml';

/**
 * The `yaml` library's errors, in words a mapping author understands: what the parser saw, and
 * what usually causes it in a mapping file. The parser's own sentence is kept in the message
 * (searchable), the explanation goes in the hint.
 */
export interface ExplainedYamlError {
  readonly message: string;
  readonly hint?: string;
}

const EXPLANATIONS: Partial<Record<YAMLError['code'], (message: string) => string>> = {
  BLOCK_AS_IMPLICIT_KEY: () =>
    'a `key: value` follows another `key:` on the same line; usually a missing line break or indent, or a colon followed by a space inside a value (`when: a: b`): put the value in quotes',
  MULTILINE_IMPLICIT_KEY: () =>
    'a key runs over more than one line; usually a line without `key:` (or `- `) in a mapping, or a value continued without indent: indent the continuation under its key, or quote the value',
  BAD_INDENT: (message) =>
    /Flow (sequence|map)/.test(message)
      ? `a ${message.includes('sequence') ? '[' : '{'} is not closed: end it with ${message.includes('sequence') ? ']' : '}'} on the same line, or indent the lines it continues on`
      : 'the keys of one mapping must line up in the same column: indent this line like its siblings (two spaces per level), or further to nest it under the key above',
  TAB_AS_INDENT: () => 'YAML indents with spaces only: replace the tab with spaces',
  DUPLICATE_KEY: () =>
    'this key is given twice in the same mapping, and YAML keeps only one: remove or rename one of them',
  MISSING_CHAR: (message) =>
    /quote/i.test(message)
      ? "a quoted value is not closed: end it with the same quote it starts with (inside single quotes write a quote as two: 'it''s')"
      : 'a bracket, brace or quote is not closed, or a separator (`:` or `,`) is missing',
  UNEXPECTED_TOKEN: (message) =>
    /flow-(seq|map)-(start|end)|comma/.test(message)
      ? "inside { } or [ ], a plain value ends at [ ] { } or a comma: quote the value, e.g. { expr: 'lines[0].sku' }"
      : "something follows a complete value on the same line; usually a quoted value followed by more text (`'it's'` — write 'it''s' or \"it's\") or a stray character",
  BAD_SCALAR_START: (message) =>
    `a plain value cannot start with ${/character (\S+)/.exec(message)?.[1] ?? 'this character'} (YAML reserves @, \`, |, >, %, &, *, ! and others at the start): put the value in quotes`,
  BLOCK_IN_FLOW: () =>
    'a `key: value` or `- item` on its own line inside { } or [ ]; usually a missing , or a value with a colon that needs quotes: inside braces write `{ a: 1, b: 2 }` on one line, or drop the braces and indent',
  BAD_DQ_ESCAPE: () =>
    'a backslash in a "double-quoted" value starts an escape (\\n, \\t, \\", \\\\): use \'single quotes\' for text with backslashes, like regular expressions',
  BAD_ALIAS: () => 'an alias (*name) must name an anchor (&name) defined above it',
  MULTIPLE_DOCS: () =>
    'a line `---` starts a second document; a mapping file holds one: remove the `---`',
  KEY_OVER_1024_CHARS: () => 'a key is longer than 1024 characters; usually a missing `:`',
  NON_STRING_KEY: () => 'keys must be plain words, not lists or mappings',
  MULTIPLE_ANCHORS: () => 'a value has two anchors (&a &b): keep one',
  MULTIPLE_TAGS: () => 'a value has two tags (!a !b): keep one',
  TAG_RESOLVE_FAILED: () => 'the tag (!name) is not one YAML knows: remove it',
  BAD_PROP_ORDER: () => 'an anchor or tag is in the wrong place: write it right before the value',
  ALIAS_PROPS: () => 'an alias (*name) cannot have a tag or anchor',
  BAD_DIRECTIVE: () =>
    'a line starting with % is a YAML directive: quote a value that starts with %',
  BAD_COLLECTION_TYPE: () => 'the tag does not fit the kind of value (a list tagged as a map?)',
  RESOURCE_EXHAUSTION: () => 'too many aliases: the file expands beyond what a mapping can be',
};

/**
 * The errors worth showing: after the first, the parser is often lost, and reports every
 * following token as unexpected. Keeps the first error of each line, and of the later lines
 * only those that are not such a cascade (UNEXPECTED_TOKEN), at most ten.
 */
export function firstYamlErrors<E extends Pick<YAMLError, 'code'>>(
  errors: readonly E[],
  lineOf: (error: E) => number,
): E[] {
  const kept: E[] = [];
  const lines = new Set<number>();
  for (const error of errors) {
    const line = lineOf(error);
    if (lines.has(line) || (kept.length > 0 && error.code === 'UNEXPECTED_TOKEN')) continue;
    lines.add(line);
    kept.push(error);
    if (kept.length === 10) break;
  }
  return kept;
}

/** The parser's message (first line) with an explanation for the common codes. */
export function explainYamlError(error: Pick<YAMLError, 'code' | 'message'>): ExplainedYamlError {
  const message = error.message.split('\n')[0] ?? error.message;
  const explain = EXPLANATIONS[error.code];
  return explain ? { message, hint: explain(message) } : { message };
}
