import { headerText, type SourceRecord } from '../../core/records.js';
import { activation, type CompiledExpression } from '../cel.js';
import type { DecodedRecord } from './decode.js';
import { setOwn } from '../../core/objects.js';

/**
 * route — picks the first route whose `when` holds for the upstream record. Conditions see
 * the record's fields as variables, plus `record`, `topic` and `headers` (text values).
 */
export interface Routable {
  readonly name: string;
  readonly when: CompiledExpression | undefined;
}

export type RouteResult<R> =
  | { readonly kind: 'matched'; readonly route: R }
  | { readonly kind: 'no-match'; readonly errors: readonly string[] };

export function createRouteStage<R extends Routable>(
  routes: readonly R[],
): (record: DecodedRecord, source: SourceRecord) => RouteResult<R> {
  const needsHeaders = routes.some((r) => r.when?.names.includes('headers'));
  const names = new Set(routes.flatMap((r) => r.when?.names ?? []));
  return (record, source) => {
    const errors: string[] = [];
    let prepared: Record<string, unknown> | undefined;
    for (const route of routes) {
      if (!route.when) return { kind: 'matched', route };
      if (!prepared) {
        const extra: Record<string, unknown> = { record, topic: source.topic };
        if (needsHeaders) {
          const headers: Record<string, string> = {};
          for (const name of Object.keys(source.headers)) {
            const text = headerText(source.headers, name);
            if (text !== undefined) setOwn(headers, name, text);
          }
          extra['headers'] = headers;
        }
        // One conversion of the record for all conditions.
        prepared = activation(names, record, extra);
      }
      try {
        if (route.when.run(prepared) === true) return { kind: 'matched', route };
      } catch (error) {
        errors.push(`${route.name}: ${(error as Error).message.split('\n')[0] ?? ''}`);
      }
    }
    return { kind: 'no-match', errors };
  };
}
