#!/usr/bin/env bash
# The Kafka 4.1 compatibility subset: starts a second local infrastructure instance running
# Kafka 4.1 (MEMBRANE_KAFKA_VERSION, its own folder .cache/infra-kafka4 and free ports, so it
# never touches the 3.9 instance the other tests use), runs the integration tests that prove
# what membrane needs of a broker against it — a consumer group, transactions with
# sendOffsets, `membrane run` accounting for every record in both guarantees, and the
# quarantine CLI's replay — and stops it again, whatever happens.
#
#   npm run test:kafka4
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export MEMBRANE_KAFKA_VERSION=4.1.2
export MEMBRANE_INFRA_DIR="$root/.cache/infra-kafka4"
# The instance's own brokers and registry, not whatever the caller's shell points at.
unset KAFKA_BROKERS SCHEMA_REGISTRY_URL MEMBRANE_INFRA

down() { npm run -s infra -- down > /dev/null 2>&1 || true; }
trap down EXIT

npm run -s infra -- up
eval "$(npm run -s infra -- env)"
node node_modules/vitest/vitest.mjs run --project integration \
  test/integration/kafka/consumer-group.test.ts \
  test/integration/kafka/transactions.test.ts \
  test/integration/runtime/conservation.test.ts \
  test/integration/quarantine/cli.test.ts
