import { setFlagsFromString } from 'node:v8';

/**
 * The check of a `matches()` pattern at `validate` time. At run time a pattern that
 * backtracks excessively is switched to V8's linear-time engine (src/pipeline/cel.ts), which
 * cannot run every pattern: one it cannot run keeps backtracking, and upstream text can make
 * that take minutes (`^(a+)+(?=b)` against 26 characters: 3.5 s, doubling per character).
 *
 * Which patterns that engine runs is asked of V8 itself: with
 * `--enable-experimental-regexp-engine`, `new RegExp(p, 'l')` compiles `p` for the linear
 * engine and throws "Cannot be executed in linear time" for exactly the patterns the
 * backtrack fallback cannot switch (the same V8 test, `ExperimentalRegExp::CanBeHandled`, with
 * no flags — cel-js builds `new RegExp(pattern)`). A parser of our own would have to follow
 * V8's version by version (besides lookarounds and backreferences, counted repetitions too
 * large to unroll, `a{2,1000}`, are refused). The flag only makes the `l` flag parse; it is
 * set on the first check, in `validate` or at startup (mapping load), never per record. Should
 * a Node.js not know it (the probe fails), the patterns are read by `explain` alone, which
 * refuses lookarounds and backreferences.
 */

let linearEngine: boolean | undefined;

/** Whether `new RegExp(p, 'l')` asks V8's linear engine (flag set, and behaving as expected). */
function hasLinearEngine(): boolean {
  if (linearEngine === undefined) {
    setFlagsFromString('--enable-experimental-regexp-engine');
    linearEngine = compilesLinear('a+b') === true && compilesLinear('(?=a)') === false;
  }
  return linearEngine;
}

/** true / false: the linear engine can / cannot run `pattern`; undefined: no such engine. */
function compilesLinear(pattern: string): boolean | undefined {
  try {
    // `l` is V8's flag for its linear engine, which ESLint does not know.
    // eslint-disable-next-line no-invalid-regexp
    new RegExp(pattern, 'l');
    return true;
  } catch (error) {
    return /linear time/i.test((error as Error).message) ? false : undefined;
  }
}

/** What in a pattern the linear engine cannot run, found by reading it (outside classes). */
export function explain(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(next) || (next === 'k' && pattern[i + 2] === '<')))
        return 'a backreference';
      i += 1;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '(' && pattern[i + 1] === '?') {
      const kind = pattern.slice(i + 2, i + 4);
      if (kind.startsWith('=') || kind.startsWith('!')) return 'a lookahead';
      if (kind === '<=' || kind === '<!') return 'a lookbehind';
    }
  }
  return undefined;
}

export interface PatternProblem {
  readonly message: string;
  readonly hint: string;
}

/**
 * Why a `matches()` pattern written in a mapping cannot be used, or undefined: it is not a
 * regular expression at all, or V8's linear-time engine cannot run it.
 */
export function patternProblem(pattern: string): PatternProblem | undefined {
  try {
    new RegExp(pattern);
  } catch (error) {
    const reason = (error as Error).message.replace(/^Invalid regular expression: \/.*\/: /s, '');
    return {
      message: `the pattern of matches() is not a regular expression: ${reason}`,
      hint: 'it is a JavaScript regular expression, without the slashes; escape \\ as \\\\ inside a quoted string',
    };
  }
  const found = explain(pattern);
  const linear = hasLinearEngine() ? compilesLinear(pattern) : found === undefined;
  if (linear !== false) return undefined;
  return {
    message: `the pattern of matches() has ${found ?? 'a repetition too large to unroll'}, which V8's linear-time engine cannot run: upstream text could make it backtrack for minutes`,
    hint:
      found === undefined
        ? 'use smaller counts ({1,20} rather than {1,1000}), or + and *'
        : 'write it without lookarounds and backreferences (test each part with its own matches(), contains() or startsWith())',
  };
}
