#!/usr/bin/env bash
# Lints, renders and validates the Helm chart in deploy/helm/membrane, offline once its tools
# are cached (`npm run chart:check`).
#
# Tools, installed into the git-ignored cache on first use (quick when cached), by the
# ordinary clients from package registries only:
#   - helm, built from its Go module (go install helm.sh/helm/v3/cmd/helm@HELM_VERSION);
#   - kubernetes-validate from PyPI, in a venv: it ships the Kubernetes OpenAPI schemas of
#     several releases, so nothing is fetched at check time (kubeconform would fetch them);
#   - @kubernetes-models/keda and @kubernetes-models/prometheus-operator from npm, in a folder
#     of their own (not the project's package.json): validators and TypeScript types generated
#     from KEDA's and the Prometheus Operator's API types, for the two custom resources.
#
# Checks: `helm lint` (values.schema.json included) and `helm template` of every
# deploy/helm/membrane/ci/*-values.yaml (defaults; every optional feature on; OAuth with the
# repository's mappings as files), each rendered object validated strictly (unknown fields
# refused) against the schemas of Kubernetes K8S_VERSIONS; ScaledObject, TriggerAuthentication
# and ServiceMonitor against their generated validators and types; cross-object invariants
# (selectors, ports, secrets, grace period); and values the chart must refuse.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KEDA_MODELS_VERSION=2.0.0
PROMETHEUS_OPERATOR_MODELS_VERSION=6.0.0
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest whose
# schemas kubernetes-validate carries.
K8S_VERSIONS=(1.33.0 1.37.0)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="$root/deploy/helm/membrane"
cache="${MEMBRANE_CACHE_DIR:-$root/.cache}/chart-tools"
helm="$cache/helm-$HELM_VERSION/helm"
venv="$cache/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
models="$cache/models-keda-$KEDA_MODELS_VERSION-prometheus-operator-$PROMETHEUS_OPERATOR_MODELS_VERSION"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf 'chart-check: %s\n' "$*"; }
die() {
  printf 'chart-check: FAILED: %s\n' "$*" >&2
  exit 1
}

# --- tools -----------------------------------------------------------------------------------
if [[ ! -x "$helm" ]]; then
  command -v go > /dev/null || die "go is needed once, to build helm $HELM_VERSION"
  step "building helm $HELM_VERSION from its Go module (once)"
  GOBIN="$work/gobin" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mkdir -p "$(dirname "$helm")"
  mv "$work/gobin/helm" "$helm.tmp" && mv "$helm.tmp" "$helm"
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import kubernetes_validate' 2> /dev/null; then
  step "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into a venv (once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
if [[ ! -f "$models/.installed" ]]; then
  step "installing the KEDA and Prometheus Operator models from npm (once)"
  rm -rf "$models"
  mkdir -p "$models"
  printf '{ "private": true, "type": "module" }\n' > "$models/package.json"
  (cd "$models" && npm install --silent --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@kubernetes-models/keda@$KEDA_MODELS_VERSION" \
    "@kubernetes-models/prometheus-operator@$PROMETHEUS_OPERATOR_MODELS_VERSION" > /dev/null)
  touch "$models/.installed"
fi

# helm keeps its own state in the cache, not in $HOME; nothing here reaches the network.
export HELM_CACHE_HOME="$cache/helm-home/cache" HELM_CONFIG_HOME="$cache/helm-home/config" \
  HELM_DATA_HOME="$cache/helm-home/data"

# --- lint and render -------------------------------------------------------------------------
# The repository's mappings and schemas, as `--set-file` would give them to an install.
file_args=()
while IFS= read -r file; do
  rel="${file#"$root"/mappings/}"
  file_args+=(--set-file "mappings.files.${rel//./\\.}=$file")
done < <(find "$root/mappings" -name '*.yaml' ! -name '*.test.yaml' | sort)
while IFS= read -r file; do
  rel="${file#"$root"/schemas/}"
  file_args+=(--set-file "schemas.files.${rel//./\\.}=$file")
done < <(find "$root/schemas" -name '*.avsc' | sort)

rendered=()
for values in "$chart"/ci/*-values.yaml; do
  name="$(basename "$values" -values.yaml)"
  extra=()
  [[ "$name" == oauth ]] && extra=("${file_args[@]}")
  step "helm lint + template: ci/$name-values.yaml"
  # A helm built by `go install` takes Kubernetes 1.20 for granted: name the version.
  "$helm" lint --strict "$chart" --kube-version "${K8S_VERSIONS[0]}" -f "$values" "${extra[@]}" \
    > "$work/lint.txt" 2>&1 ||
    { cat "$work/lint.txt" >&2; die "helm lint ci/$name-values.yaml"; }
  for version in "${K8S_VERSIONS[@]}"; do
    out="$work/$name-$version.yaml"
    "$helm" template membrane "$chart" --namespace streaming --kube-version "$version" \
      -f "$values" "${extra[@]}" > "$out" || die "helm template ci/$name-values.yaml ($version)"
    rendered+=("$version=$out")
  done
done

# Values the chart must refuse, with the sentence it must refuse them with.
refuse() {
  local expect="$1"
  shift
  if "$helm" template membrane "$chart" --kube-version "${K8S_VERSIONS[0]}" "$@" \
    > /dev/null 2> "$work/refused.txt"; then
    die "helm template accepted $* (expected: $expect)"
  fi
  grep -qF -- "$expect" "$work/refused.txt" ||
    { cat "$work/refused.txt" >&2; die "helm template refused $* without saying: $expect"; }
}
step "values the chart refuses"
minimal=(-f "$chart/ci/default-values.yaml")
refuse 'kafka.brokers is required' --set schemaRegistry.url=http://registry:8081
refuse 'schemaRegistry.url is required' --set kafka.brokers=kafka:9092
refuse 'needs kafka.sasl.existingSecret' "${minimal[@]}" --set kafka.sasl.mechanism=scram-sha-256
refuse 'oauthbearer needs' "${minimal[@]}" --set kafka.sasl.mechanism=oauthbearer
refuse 'needs kafka.sasl.username' "${minimal[@]}" --set kafka.sasl.mechanism=plain \
  --set kafka.sasl.existingSecret=kafka
refuse 'need schemaRegistry.existingSecret' "${minimal[@]}" --set schemaRegistry.passwordKey=password
refuse 'needs schemaRegistry.username' "${minimal[@]}" --set schemaRegistry.passwordKey=password \
  --set schemaRegistry.existingSecret=registry
refuse 'not both' "${minimal[@]}" --set schemaRegistry.bearerTokenKey=token \
  --set schemaRegistry.existingSecret=registry --set schemaRegistry.username=me
refuse 'needs an https://' "${minimal[@]}" --set schemaRegistry.tls.existingSecret=registry-tls
refuse 'a client certificate needs its key' "${minimal[@]}" \
  --set kafka.tls.existingSecret=kafka-tls --set kafka.tls.certKey=tls.crt
refuse 'comes from a chart value' "${minimal[@]}" --set membrane.config.MEMBRANE_GROUP_ID=other
refuse 'processingGuarantee' "${minimal[@]}" --set membrane.processingGuarantee=exactly-once
refuse 'mechanism' "${minimal[@]}" --set kafka.sasl.mechanism=gssapi
refuse 'additional properties' "${minimal[@]}" --set kafka.brokerz=kafka:9092
refuse 'would share the ConfigMap key' "${minimal[@]}" \
  --set-string 'mappings.files.a/b\.yaml=x' --set-string 'mappings.files.a_b\.yaml=y'
refuse 'minReplicaCount is above' "${minimal[@]}" --set keda.enabled=true \
  --set keda.minReplicaCount=5 --set keda.maxReplicaCount=2

# --- validate --------------------------------------------------------------------------------
step "validating ${#rendered[@]} renderings against Kubernetes ${K8S_VERSIONS[*]} (strict)"
"$venv/bin/python" - "$work/crds.json" "${rendered[@]}" << 'PY'
import json, sys
import yaml
from kubernetes_validate import utils

CRDS = {('keda.sh/v1alpha1', 'ScaledObject'), ('keda.sh/v1alpha1', 'TriggerAuthentication'),
        ('monitoring.coreos.com/v1', 'ServiceMonitor')}
failures, crds, counted = [], [], 0

def fail(where, message):
    failures.append(f'{where}: {message}')

def subset(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())

for arg in sys.argv[2:]:
    version, path = arg.split('=', 1)
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    where = f"{path.rsplit('/', 1)[-1]}"
    for doc in docs:
        counted += 1
        key = (doc.get('apiVersion'), doc.get('kind'))
        name = f"{where} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if key in CRDS:
            crds.append({'where': name, 'object': doc})
            continue
        try:
            utils.validate(doc, version, strict=True)
        except utils.ValidationError as e:
            fail(name, f"{'.'.join(map(str, e.path))}: {e.message}")
        except utils.SchemaNotFoundError as e:
            fail(name, e.message)

    # What a schema cannot see: the objects must fit together.
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc['kind'], []).append(doc)
    (deploy,) = by_kind['Deployment']
    pod = deploy['spec']['template']
    labels = pod['metadata']['labels']
    (container,) = pod['spec']['containers']
    env = {e['name']: e for e in container.get('env', [])}
    dn = f'{where} Deployment'
    if len(env) != len(container.get('env', [])):
        fail(dn, 'an environment variable is set twice')
    if not subset(deploy['spec']['selector']['matchLabels'], labels):
        fail(dn, 'selector does not match the pod labels')
    port = int(env['MEMBRANE_HTTP_PORT']['value'])
    (http,) = [p for p in container['ports'] if p['name'] == 'http']
    if http['containerPort'] != port:
        fail(dn, f"port http {http['containerPort']} is not MEMBRANE_HTTP_PORT {port}")
    for probe, path in (('livenessProbe', '/healthz'), ('startupProbe', '/healthz'),
                        ('readinessProbe', '/readyz')):
        get = container[probe]['httpGet']
        if (get['path'], get['port']) != (path, 'http'):
            fail(dn, f'{probe} probes {get} instead of {path} on http')
    shutdown_ms = int(env['MEMBRANE_SHUTDOWN_TIMEOUT_MS']['value'])
    grace = pod['spec']['terminationGracePeriodSeconds']
    if grace * 1000 <= shutdown_ms:
        fail(dn, f'terminationGracePeriodSeconds {grace} is not longer than {shutdown_ms} ms')
    volumes = {v['name']: v for v in pod['spec'].get('volumes', [])}
    mounts = {m['mountPath']: m for m in container.get('volumeMounts', [])}
    for m in mounts.values():
        if m['name'] not in volumes:
            fail(dn, f"mounts the undefined volume {m['name']}")
    mappings = env['MEMBRANE_MAPPINGS']['value']
    if 'mappings' in volumes and mounts.get(mappings, {}).get('name') != 'mappings':
        fail(dn, f'the mappings volume is not mounted at MEMBRANE_MAPPINGS ({mappings})')
    for var, volume in (('KAFKA_SSL_CA_FILE', 'kafka-tls'), ('KAFKA_SSL_CERT_FILE', 'kafka-tls'),
                        ('KAFKA_SSL_KEY_FILE', 'kafka-tls'), ('SCHEMA_REGISTRY_CA_FILE', 'registry-tls'),
                        ('SCHEMA_REGISTRY_CERT_FILE', 'registry-tls'),
                        ('SCHEMA_REGISTRY_KEY_FILE', 'registry-tls')):
        if var not in env:
            continue
        file = env[var]['value']
        folder, base = file.rsplit('/', 1)
        items = [i['path'] for i in volumes.get(volume, {}).get('secret', {}).get('items', [])]
        if mounts.get(folder, {}).get('name') != volume or base not in items:
            fail(dn, f'{var}={file} is not a file of the {volume} volume')
    if 'KAFKA_SSL_CA_FILE' in env and env.get('KAFKA_SSL', {}).get('value') != 'true':
        fail(dn, 'a Kafka CA is mounted but KAFKA_SSL is not true')
    sec = container.get('securityContext', {})
    if not (sec.get('readOnlyRootFilesystem') and pod['spec']['securityContext'].get('runAsNonRoot')):
        fail(dn, 'not read-only and non-root')
    for cm in by_kind.get('ConfigMap', []):
        for volume in volumes.values():
            ref = volume.get('configMap')
            if ref and ref['name'] == cm['metadata']['name']:
                missing = [i['key'] for i in ref.get('items', []) if i['key'] not in cm['data']]
                if missing:
                    fail(dn, f'volume {volume["name"]} names keys {missing} its ConfigMap lacks')
    (service,) = by_kind['Service']
    if not subset(service['spec']['selector'], labels):
        fail(where, 'the Service selects no membrane pod')
    if service['spec']['ports'][0]['targetPort'] != 'http':
        fail(where, 'the Service does not target the http port')
    for pdb in by_kind.get('PodDisruptionBudget', []):
        if not subset(pdb['spec']['selector']['matchLabels'], labels):
            fail(where, 'the PodDisruptionBudget selects no membrane pod')
    for sm in by_kind.get('ServiceMonitor', []):
        if not subset(sm['spec']['selector']['matchLabels'], service['metadata']['labels']):
            fail(where, 'the ServiceMonitor selects no Service')
        if [e['port'] for e in sm['spec']['endpoints']] != ['http']:
            fail(where, 'the ServiceMonitor scrapes another port than http')
    for so in by_kind.get('ScaledObject', []):
        if 'replicas' in deploy['spec']:
            fail(where, 'the Deployment sets replicas while KEDA scales it')
        if so['spec']['scaleTargetRef']['name'] != deploy['metadata']['name']:
            fail(where, 'the ScaledObject scales another Deployment')
        for trigger in so['spec']['triggers']:
            if trigger['metadata']['consumerGroup'] != env['MEMBRANE_GROUP_ID']['value']:
                fail(where, 'a KEDA trigger watches another group than MEMBRANE_GROUP_ID')
            ref = trigger.get('authenticationRef', {}).get('name')
            made = [t['metadata']['name'] for t in by_kind.get('TriggerAuthentication', [])]
            if ref and made and ref not in made:
                fail(where, f'a KEDA trigger names the TriggerAuthentication {ref}, not {made}')

json.dump(crds, open(sys.argv[1], 'w'))
print(f'chart-check: {counted} objects checked, {len(crds)} custom resources left to the models')
if failures:
    print('\n'.join(failures), file=sys.stderr)
    sys.exit(1)
PY

step "validating the custom resources against the KEDA and Prometheus Operator models"
# Runtime validators (types, required fields, enums, patterns) …
cat > "$models/check.mjs" << 'JS'
import { readFileSync } from 'node:fs';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
const models = { ScaledObject, TriggerAuthentication, ServiceMonitor };
let failed = 0;
for (const { where, object } of JSON.parse(readFileSync(process.argv[2], 'utf8'))) {
  try {
    new models[object.kind](object).validate();
  } catch (error) {
    failed++;
    console.error(`${where}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
JS
node "$models/check.mjs" "$work/crds.json" || die "a custom resource does not validate"
# … and the generated TypeScript types, whose excess-property checks refuse unknown fields.
"$venv/bin/python" - "$work/crds.json" "$models/check.ts" << 'PY'
import json, sys
imports = {
    'ScaledObject': '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject',
    'TriggerAuthentication': '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication',
    'ServiceMonitor': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
}
lines = [f"import type {{ I{k} }} from '{v}';" for k, v in imports.items()]
for i, crd in enumerate(json.load(open(sys.argv[1]))):
    lines.append(f"// {crd['where']}")
    lines.append(f"export const o{i}: I{crd['object']['kind']} = {json.dumps(crd['object'])};")
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')
PY
cat > "$models/tsconfig.json" << 'JSON'
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "skipLibCheck": true,
    "types": []
  },
  "files": ["check.ts"]
}
JSON
"$root/node_modules/.bin/tsc" -p "$models/tsconfig.json" || die "a custom resource has a field its type lacks"

step "ok (helm $HELM_VERSION; Kubernetes ${K8S_VERSIONS[*]}; KEDA models $KEDA_MODELS_VERSION; Prometheus Operator models $PROMETHEUS_OPERATOR_MODELS_VERSION)"
