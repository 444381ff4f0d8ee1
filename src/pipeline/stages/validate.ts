import type { Type } from 'avsc';
import { issue, shown, type Issue } from '../../core/issues.js';
import { pass, quarantine, type Verdict } from '../../core/verdict.js';
import { compileExpression, type CompiledExpression } from '../cel.js';
import type { DecodedRecord } from './decode.js';

/**
 * validate — the translated record against the business rules (named CEL invariants over
 * its fields; `record` is the upstream record) and against the target schema's types.
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

/** The first field of `value` that does not fit `schema`, as a path. */
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
  schemas: readonly (Type | undefined)[],
): ValidateStage {
  return (out, upstream) => {
    const issues: Issue[] = [];
    for (const invariant of invariants) {
      let holds: unknown;
      try {
        holds = invariant.expression.evaluate(out, { record: upstream });
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
    for (const schema of schemas) if (schema) issues.push(...schemaMismatches(schema, out));
    return issues.length === 0 ? pass(out) : quarantine(...issues);
  };
}
