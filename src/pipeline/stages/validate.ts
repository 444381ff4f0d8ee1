import type { Type } from 'avsc';
import { issue, shown, type Issue } from '../../core/issues.js';
import { pass, quarantineAll, type Verdict } from '../../core/verdict.js';
import { activation, compileExpression, type CompiledExpression } from '../cel.js';
import type { DecodedRecord } from './decode.js';

/**
 * validate — the translated record against the business rules: named CEL invariants over
 * its fields (`record` is the upstream record). The target schema's own type checks run in
 * encode, which names the offending field when a value does not fit.
 */
export interface InvariantConfig {
  readonly name: string;
  readonly rule: string;
  readonly message?: string | undefined;
}

export type ValidateStage = (
  out: Record<string, unknown>,
  upstream: DecodedRecord,
) => Verdict<Record<string, unknown>>;

export function compileInvariants(
  invariants: readonly InvariantConfig[],
  problem: (index: number, message: string) => void,
): {
  readonly name: string;
  readonly message: string | undefined;
  readonly expression: CompiledExpression;
}[] {
  const compiled = [];
  for (const [index, invariant] of invariants.entries()) {
    try {
      compiled.push({
        name: invariant.name,
        message: invariant.message,
        expression: compileExpression(invariant.rule),
      });
    } catch (error) {
      problem(index, `invalid CEL expression: ${(error as Error).message.split('\n')[0] ?? ''}`);
    }
  }
  return compiled;
}

/** The fields of `value` that do not fit `schema` (up to five), as issues with their paths. */
export function schemaMismatches(schema: Type, value: unknown): Issue[] {
  const found: Issue[] = [];
  schema.isValid(value, {
    errorHook(path: string[], any: unknown, type: Type) {
      if (found.length < 5) {
        found.push(
          issue(
            'encode.schema-mismatch',
            path.join('.'),
            `${shown(any)} does not fit the target schema's ${type.typeName}`,
          ),
        );
      }
    },
  });
  return found;
}

export function createValidateStage(
  invariants: ReturnType<typeof compileInvariants>,
): ValidateStage {
  const names = new Set(invariants.flatMap((i) => i.expression.names));
  return (out, upstream) => {
    const issues: Issue[] = [];
    // One conversion of the record's fields for all rules.
    const prepared = invariants.length > 0 ? activation(names, out, { record: upstream }) : {};
    for (const invariant of invariants) {
      let holds: unknown;
      try {
        holds = invariant.expression.run(prepared);
      } catch (error) {
        issues.push(
          issue(
            'validate.expression-failed',
            '',
            `rule ${invariant.name} could not be evaluated: ${(error as Error).message.split('\n')[0] ?? ''}`,
            invariant.name,
          ),
        );
        continue;
      }
      if (holds !== true) {
        issues.push(
          issue(
            'validate.invariant',
            '',
            invariant.message ??
              `rule ${invariant.name} (${invariant.expression.source}) does not hold`,
            invariant.name,
          ),
        );
      }
    }
    return issues.length === 0 ? pass(out) : quarantineAll(issues);
  };
}
