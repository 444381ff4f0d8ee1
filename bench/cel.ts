/**
 * Which CEL implementation for invariants and conditions? Both evaluate the same compiled
 * expressions over the same records; prints evaluations per second, median of 5 rounds.
 * Run: npx tsx bench/cel.ts
 */
import { parse as celJsParse } from '@marcbachmann/cel-js';
import { celEnv, parse as bufParse, plan as bufPlan } from '@bufbuild/cel';

const expressions = [
  'totalCents > 0',
  'size(lines) > 0 && lines.all(l, l.quantity > 0)',
  'status == "C" || status == "X"',
];
const record = {
  totalCents: 1250n,
  status: 'C',
  lines: [
    { sku: 'A-1', quantity: 2n },
    { sku: 'B-7', quantity: 1n },
  ],
};
// @bufbuild/cel takes maps as Map, not plain objects.
const bufRecord = new Map<string, unknown>([
  ['totalCents', 1250n],
  ['status', 'C'],
  ['lines', record.lines.map((line) => new Map<string, unknown>(Object.entries(line)))],
]);

function measure(name: string, evaluate: () => unknown): number {
  const n = 200_000;
  for (let i = 0; i < 20_000; i++) evaluate();
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) evaluate();
    rounds.push(n / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  rounds.sort((a, b) => a - b);
  const median = rounds[2] ?? 0;
  console.log(`${name.padEnd(24)} ${Math.round(median).toLocaleString('en')} evals/s`);
  return median;
}

const celJs = expressions.map((e) => celJsParse(e));
const celJsRps = measure('@marcbachmann/cel-js', (): unknown =>
  celJs.map((f): unknown => f(record)),
);

const env = celEnv();
const buf = expressions.map((e) => bufPlan(env, bufParse(e)));
const bufRps = measure('@bufbuild/cel', () =>
  buf.map((f): unknown => f(Object.fromEntries(bufRecord) as never)),
);

console.log(
  JSON.stringify({
    bench: 'cel',
    marcbachmann_cel_js: Math.round(celJsRps),
    bufbuild_cel: Math.round(bufRps),
  }),
);

// Both must agree before their speed means anything.
const expected = JSON.stringify(celJs.map((f): unknown => f(record)));
const actual = JSON.stringify(buf.map((f): unknown => f(Object.fromEntries(bufRecord) as never)));
if (expected !== actual || expected !== '[true,true,true]') {
  throw new Error(`results differ: cel-js ${expected}, @bufbuild/cel ${actual}`);
}
