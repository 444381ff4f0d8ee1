#!/usr/bin/env bash
# The Kafka 4.1 compatibility subset: starts a second local infrastructure instance running
# Kafka 4.1 (MEMBRANE_KAFKA_VERSION) in a folder of its own and on free ports of its own, so
# it never touches the 3.9 instance the other tests use, runs the integration tests that prove
# what membrane needs of a broker against it — a consumer group, transactions with
# sendOffsets, `membrane run` accounting for every record in both guarantees, a batch it will
# not decode quarantined whole and committed past, and the quarantine CLI's replay — and
# stops it again, whatever happens (unless it was already running when the script began:
# then it is somebody's, and left as it was).
#
#   npm run test:kafka4
#   MEMBRANE_KAFKA4_INFRA_DIR=/elsewhere npm run test:kafka4   # another folder for it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cache="${MEMBRANE_CACHE_DIR:-$root/.cache}"
default_dir="${MEMBRANE_INFRA_DIR:-$cache/infra}"
dir="${MEMBRANE_KAFKA4_INFRA_DIR:-$cache/infra-kafka4}"
if [ "$(realpath -m "$dir")" = "$(realpath -m "$default_dir")" ] ||
  [ "$(realpath -m "$dir")" = "$(realpath -m "$cache/infra")" ]; then
  echo "membrane: the Kafka 4.1 instance needs a folder of its own, not $dir (the default instance's)." >&2
  echo "  What to do: set MEMBRANE_KAFKA4_INFRA_DIR to another folder, or unset it." >&2
  exit 1
fi

export MEMBRANE_KAFKA_VERSION=4.1.2
export MEMBRANE_INFRA_DIR="$dir"
# The instance's own brokers, registry and free ports, not whatever the caller's shell points
# at or fixed for the default instance (MEMBRANE_*_PORT would make both want the same ports).
unset KAFKA_BROKERS SCHEMA_REGISTRY_URL MEMBRANE_INFRA
unset MEMBRANE_KAFKA_PORT MEMBRANE_KAFKA_CONTROLLER_PORT MEMBRANE_REGISTRY_PORT MEMBRANE_KAFKA_SECURE_PORT

already=false
if npm run -s infra -- status > /dev/null 2>&1; then already=true; fi
down() { if [ "$already" = false ]; then npm run -s infra -- down > /dev/null 2>&1 || true; fi; }
trap down EXIT

npm run -s infra -- up
eval "$(npm run -s infra -- env)"
node node_modules/vitest/vitest.mjs run --project integration \
  test/integration/kafka/consumer-group.test.ts \
  test/integration/kafka/transactions.test.ts \
  test/integration/runtime/conservation.test.ts \
  test/integration/runtime/refused-batch.test.ts \
  test/integration/quarantine/cli.test.ts
