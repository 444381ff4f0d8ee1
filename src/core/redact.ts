/**
 * URLs without their secrets, for every message, log line and CLI output that shows one: a
 * registry URL may carry `user:password@` (or a token in its query string), and neither may
 * reach a log. Pure string work, no parsing that could throw or normalise what the user wrote.
 */

/** `scheme://userinfo@`: the userinfo runs to the last `@` before the path, as WHATWG parses it. */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i;
/** `?key=value` / `&key=value` in a query: the value goes. */
const QUERY_VALUE = /([?&][^=&#]*=)[^&#]*/g;
/** A URL inside free text: up to whitespace, a quote or an angle bracket. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

export const REDACTED = '***';

/**
 * The URL without `user:password@` and with every query value replaced by `***`:
 * `https://user:secret@registry/api?token=abc` → `https://registry/api?token=***`.
 */
export function redactUrl(url: string): string {
  const withoutUser = url.replace(USERINFO, '$1');
  const query = withoutUser.indexOf('?');
  if (query < 0) return withoutUser;
  const hash = withoutUser.indexOf('#', query);
  const end = hash < 0 ? withoutUser.length : hash;
  return (
    withoutUser.slice(0, query) +
    withoutUser.slice(query, end).replace(QUERY_VALUE, `$1${REDACTED}`) +
    withoutUser.slice(end)
  );
}

/** Free text (an error message, a stack) with every URL in it redacted by {@link redactUrl}. */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, redactUrl);
}

export interface SplitUrl {
  /** The URL without userinfo (unchanged when it had none). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

/**
 * Takes `user:password@` out of a URL, percent-decoded, to be sent as an `Authorization`
 * header instead (fetch refuses URLs with credentials, and quotes them in its error).
 */
export function splitCredentials(url: string): SplitUrl {
  const match = USERINFO.exec(url);
  if (!match) return { url };
  const scheme = match[1] ?? '';
  const userinfo = match[0].slice(scheme.length, -1);
  const colon = userinfo.indexOf(':');
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const stripped = scheme + url.slice(match[0].length);
  return colon < 0
    ? { url: stripped, username: decode(userinfo) }
    : {
        url: stripped,
        username: decode(userinfo.slice(0, colon)),
        password: decode(userinfo.slice(colon + 1)),
      };
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
