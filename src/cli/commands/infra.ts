import { Command } from 'commander';
import {
  infraExportLines,
  localDown,
  localStatus,
  localUp,
  type LocalInfraState,
} from '../../infra/local.js';
import { infraPaths } from '../../infra/paths.js';
import { createProgress } from '../../infra/progress.js';

/** The lines a shell can `eval` to point tools and tests at this instance (and its SASL_SSL listener). */
export function exportLines(state: LocalInfraState): string[] {
  return infraExportLines(state);
}

export function infraCommand(): Command {
  const infra = new Command('infra').description(
    'run a local single-node Kafka (KRaft) and Apicurio schema registry from Maven Central jars',
  );

  infra
    .command('up')
    .description(
      'download (first time), start and wait until both answer; reuses a healthy instance',
    )
    .action(async () => {
      const { state, started } = await localUp({ progress: createProgress() });
      const out = process.stdout;
      out.write(
        started ? 'Local infrastructure is up.\n' : 'Local infrastructure was already up.\n',
      );
      out.write(`  Kafka     ${state.kafka.brokers.join(',')}  (pid ${state.kafka.pid})\n`);
      if (state.kafka.secure)
        out.write(
          `  SASL_SSL  ${state.kafka.secure.brokers.join(',')}  (SCRAM-SHA-512/256 user ${state.kafka.secure.username}, CA ${state.kafka.secure.caFile})\n`,
        );
      out.write(`  Registry  ${state.registry.url}  (pid ${state.registry.pid})\n`);
      out.write(`  Logs      ${infraPaths().run}/logs\n`);
      out.write(`Point tools at it with:\n  ${exportLines(state).join('\n  ')}\n`);
    });

  infra
    .command('status')
    .description('show whether Kafka and the registry run and answer (exit 1 if not)')
    .option('--json', 'one JSON object instead of a table')
    .action(async (options: { json?: boolean }) => {
      const status = await localStatus();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(status)}\n`);
      } else if (!status.state) {
        process.stdout.write(
          'Local infrastructure is not running (start it with `npm run infra -- up`).\n',
        );
      } else {
        const rows = status.components.map((c) => [
          c.name,
          c.healthy ? 'healthy' : c.running ? 'unhealthy' : 'stopped',
          c.address,
          String(c.pid),
          c.detail,
        ]);
        const header = ['COMPONENT', 'STATE', 'ADDRESS', 'PID', 'DETAIL'];
        const widths = header.map((h, i) =>
          Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)),
        );
        for (const row of [header, ...rows]) {
          process.stdout.write(
            `${row
              .map((cell, i) => cell.padEnd(widths[i] ?? 0))
              .join('  ')
              .trimEnd()}\n`,
          );
        }
      }
      process.exitCode = status.healthy ? 0 : 1;
    });

  infra
    .command('env')
    .description(
      'print `export` lines for KAFKA_BROKERS, SCHEMA_REGISTRY_URL and the SASL_SSL listener (MEMBRANE_TEST_*) (eval "$(…)")',
    )
    .action(async () => {
      const status = await localStatus();
      if (!status.state) {
        process.stderr.write(
          'membrane: local infrastructure is not running; start it with `npm run infra -- up`.\n',
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${exportLines(status.state).join('\n')}\n`);
    });

  infra
    .command('down')
    .description('stop Kafka and the registry and delete their data (the downloaded jars stay)')
    .action(async () => {
      const { stopped } = await localDown();
      process.stdout.write(
        stopped.length === 0 ? 'Nothing was running.\n' : `Stopped ${stopped.join(' and ')}.\n`,
      );
    });

  return infra;
}
