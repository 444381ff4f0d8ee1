/**
 * URLs without their secrets, for every message, log line and CLI output that shows one: a
 * registry URL may carry `user:password@` (or a token in its query string), and neither may
 * reach a log. What counts as credentials is what the WHATWG URL parser (`new URL()`, as fetch
 * uses it) reads as such, whatever the spelling (`https:/user:pw@host` has credentials too);
 * what it cannot parse is masked up to its last `@`. Nothing here throws.
 */

export const REDACTED = '***';

/** `?key=value` / `&key=value` in a query: the value goes. */
const QUERY_VALUE = /([?&][^=&#]*=)[^&#]*/g;
/*
 * In free text. Every repetition is bounded (a scheme of 32 characters, a userinfo of 256) and
 * a match starts only where a word starts, so that no text, however long, costs more than a few
 * hundred steps a character (a contrived megabyte, 2.5 s; an error message, microseconds).
 */
/**
 * Userinfo after a scheme (with slashes, or `http:`-like without): up to the last `@` before
 * the authority ends (`/`, `\`, `?`, `#`, a line break). Spaces and quotes are part of it: a
 * password may hold them.
 */
const USERINFO_IN_TEXT =
  /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,31}:[/\\]+|(?:https?|wss?|ftp):)((?:[^/\\?#@\r\n]{0,256}@)+)/gi;
/**
 * `user:password@host` without a scheme (the parser reads `user:` as one): a word, a colon,
 * then up to the last `@` before a space or the end of the authority. Not `http:` and the like,
 * whose userinfo the pattern above has hidden.
 */
const SCHEMELESS_USERINFO =
  /(?<![^\s"'`<>()[\]{}/\\?#@=,;:])(?!(?:https?|wss?|ftp):)[^\s"'`<>()[\]{}/\\?#@=,;:]{1,256}:[^\s/\\?#]{0,256}@/gi;
/** A URL: up to whitespace, a quote or an angle bracket. */
const URL_IN_TEXT =
  /(?<![a-z0-9+.-])(?:[a-z][a-z0-9+.-]{0,31}:[/\\]+|(?:https?|wss?|ftp):)[^\s"'<>`]+/gi;

function parse(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Every query value in `text` (from its first `?` to its `#`) replaced by `***`. */
function redactQuery(text: string): string {
  const query = text.indexOf('?');
  if (query < 0) return text;
  const hash = text.indexOf('#', query);
  const end = hash < 0 ? text.length : hash;
  return (
    text.slice(0, query) +
    text.slice(query, end).replace(QUERY_VALUE, `$1${REDACTED}`) +
    text.slice(end)
  );
}

/**
 * What is not a URL, or not one whose credentials the parser can tell: everything up to the
 * last `@` masked, and the query values. `https//user:pw@host?k=v` → `***@host?k=***`.
 */
export function redactUnparsed(text: string): string {
  const at = text.lastIndexOf('@');
  return redactQuery(at < 0 ? text : REDACTED + text.slice(at));
}

/** No authority, a path that is just text: `mailto:a@b`, or `user:pw@host` read as scheme `user:`. */
function opaque(url: URL): boolean {
  return url.host === '' && !url.pathname.startsWith('/');
}

/** Scheme, slashes and authority, as written: what follows is the path, query and fragment. */
const AUTHORITY = /^[a-z][a-z0-9+.-]*:[/\\]*[^/\\?#]*/i;

/** The URL as the parser writes it, without the `/` it adds for an empty path. */
function shown(url: URL, text: string): string {
  const href = url.href;
  const origin = `${url.protocol}//${url.host}`;
  const afterAuthority = text.replace(AUTHORITY, '');
  const addedSlash =
    url.pathname === '/' &&
    href.startsWith(`${origin}/`) &&
    !afterAuthority.startsWith('/') &&
    !afterAuthority.startsWith('\\');
  return addedSlash ? origin + href.slice(origin.length + 1) : href;
}

/**
 * The URL without `user:password@` and with every query value replaced by `***`:
 * `https://user:secret@registry/api?token=abc` → `https://registry/api?token=***`. A URL with
 * nothing to hide comes back as it was written; one with something to hide, as the parser
 * writes it. Text the parser cannot read, or reads without a host (`user:pw@host:8081` is the
 * scheme `user:`), is masked up to its last `@` ({@link redactUnparsed}).
 */
export function redactUrl(text: string): string {
  const url = parse(text);
  if (url === undefined || (opaque(url) && text.includes('@'))) return redactUnparsed(text);
  const search = url.search.replace(QUERY_VALUE, `$1${REDACTED}`);
  if (url.username === '' && url.password === '' && search === url.search) return text;
  url.username = '';
  url.password = '';
  url.search = search;
  return shown(url, text);
}

/**
 * Free text (an error message, a stack) with the secrets of every URL in it hidden: userinfo
 * after a scheme (even with a space or a quote in the password, or with `scheme:/`), a
 * schemeless `user:password@host`, and query values. Over-hiding is preferred to leaking.
 */
export function redactUrlsIn(text: string): string {
  const withoutUserinfo = text.includes('@')
    ? text.replace(USERINFO_IN_TEXT, `$1${REDACTED}@`).replace(SCHEMELESS_USERINFO, `${REDACTED}@`)
    : text;
  return withoutUserinfo.replace(URL_IN_TEXT, redactUrl);
}

export interface SplitUrl {
  /** The URL without userinfo (unchanged when it had none). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Takes `user:password@` out of a URL, as the parser reads it, percent-decoded, to be sent as
 * an `Authorization` header instead (fetch refuses URLs with credentials, and quotes them in
 * its error). A URL without credentials, or one the parser cannot read, comes back as it is.
 */
export function splitCredentials(text: string): SplitUrl {
  const url = parse(text);
  if (url === undefined || (url.username === '' && url.password === '')) return { url: text };
  const username = decode(url.username);
  const password = url.password === '' ? undefined : decode(url.password);
  url.username = '';
  url.password = '';
  const stripped = shown(url, text);
  return password === undefined
    ? { url: stripped, username }
    : { url: stripped, username, password };
}

/**
 * An error whose message, stack and causes show no URL secret: the error itself when none
 * does, else a copy (same name and `code`) with the texts redacted. For errors of libraries
 * that quote the URL they were given.
 */
export function redactError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error) || depth > 16) return error;
  const cause = 'cause' in error ? redactError(error.cause, depth + 1) : undefined;
  const message = redactUrlsIn(error.message);
  const stack = error.stack === undefined ? undefined : redactUrlsIn(error.stack);
  if (message === error.message && stack === error.stack && cause === error.cause) return error;
  const copy = new Error(message, cause === undefined ? undefined : { cause });
  copy.name = error.name;
  copy.stack = stack;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}
