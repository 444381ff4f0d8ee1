{{/* Names and labels, as `helm create` makes them. */}}
{{- define "membrane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "membrane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "membrane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "membrane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "membrane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "membrane.labels" -}}
helm.sh/chart: {{ include "membrane.chart" . }}
{{ include "membrane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: translator
{{- end }}

{{- define "membrane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "membrane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "membrane.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
A ConfigMap key for a file's relative path: keys may hold only [-._a-zA-Z0-9], so every other
character (the / of a sub-folder) becomes _; the volume's items put the file back at its path.
*/}}
{{- define "membrane.fileKey" -}}
{{- regexReplaceAll "[^-._a-zA-Z0-9]" . "_" }}
{{- end }}

{{/* Fails when two paths of one files map would share a ConfigMap key. */}}
{{- define "membrane.checkFileKeys" -}}
{{- $seen := dict }}
{{- range $path, $_ := .files }}
{{- $key := include "membrane.fileKey" $path }}
{{- if hasKey $seen $key }}
{{- fail (printf "%s: %q and %q would share the ConfigMap key %q; rename one" $.what (get $seen $key) $path $key) }}
{{- end }}
{{- $_ := set $seen $key $path }}
{{- end }}
{{- end }}

{{/* MEMBRANE_SHUTDOWN_TIMEOUT_MS in seconds, rounded up, plus the extra seconds. */}}
{{- define "membrane.terminationGracePeriodSeconds" -}}
{{- $ms := int64 .Values.membrane.shutdownTimeoutMs }}
{{- add (div (add $ms 999) 1000) (int64 .Values.terminationGraceExtraSeconds) }}
{{- end }}

{{- define "membrane.kafkaSsl" -}}
{{- if or .Values.kafka.ssl .Values.kafka.tls.existingSecret }}true{{ else }}false{{ end }}
{{- end }}

{{/* An environment variable's value as a string: integers as integers (YAML numbers reach
templates as float64, which would print 1200000 as 1.2e+06). */}}
{{- define "membrane.string" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}{{ int64 . | toString | quote }}{{ else }}{{ toString . | quote }}{{ end }}
{{- end }}
