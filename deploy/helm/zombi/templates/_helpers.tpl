{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "zombi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release alone when it already holds the chart's name. */}}
{{- define "zombi.fullname" -}}
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

{{/* The headless Service that gives each pod its DNS name (StatefulSet serviceName). */}}
{{- define "zombi.headlessName" -}}
{{- printf "%s-headless" (include "zombi.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zombi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zombi.labels" -}}
helm.sh/chart: {{ include "zombi.chart" . }}
{{ include "zombi.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "zombi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zombi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zombi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zombi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the S3 keys: the user's, or the chart's when keys are given; empty when neither. */}}
{{- define "zombi.s3SecretName" -}}
{{- if .Values.s3.credentials.existingSecret }}
{{- .Values.s3.credentials.existingSecret }}
{{- else if or .Values.s3.credentials.accessKeyId .Values.s3.credentials.secretAccessKey }}
{{- printf "%s-s3" (include "zombi.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Kafka advertised listeners: the value, else each listener of
config.ZOMBI_KAFKA_LISTENERS (default PLAINTEXT on the kafka port) with the
pod's stable DNS name for host: Zombi matches them by protocol.
*/}}
{{- define "zombi.advertisedListeners" -}}
{{- if .Values.kafka.advertisedListeners }}
{{- .Values.kafka.advertisedListeners }}
{{- else }}
{{- $host := printf "$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s" (include "zombi.headlessName" .) .Values.clusterDomain }}
{{- $kafkaPort := toString (int .Values.service.kafkaPort) }}
{{- $listeners := get (.Values.config | default dict) "ZOMBI_KAFKA_LISTENERS" | toString | default (printf "PLAINTEXT://0.0.0.0:%s" $kafkaPort) }}
{{- $out := list }}
{{- range $l := splitList "," $listeners }}
{{- $l = trim $l }}
{{- if $l }}
{{- if not (contains "://" $l) }}
{{- fail (printf "config.ZOMBI_KAFKA_LISTENERS: %q is not PROTOCOL://host:port" $l) }}
{{- end }}
{{- $proto := first (splitList "://" $l) }}
{{- $port := last (splitList ":" $l) | replace "{ZOMBI_KAFKA_PORT}" $kafkaPort }}
{{- $out = append $out (printf "%s://%s:%s" $proto $host $port) }}
{{- end }}
{{- end }}
{{- join "," $out }}
{{- end }}
{{- end }}

{{/*
"true" in cluster mode (cluster.etcdEndpoints set), "" alone. Fails on
values Zombi would refuse at start, so that helm says it before a pod
crash-loops: several replicas without etcd (each would be a separate node 1
with its own data). In cluster mode s3.bucket is the cluster's shared cold
tier (every pod on the same bucket).
*/}}
{{- define "zombi.clustered" -}}
{{- $etcd := .Values.cluster.etcdEndpoints | default list }}
{{- if and (gt (int .Values.replicas) 1) (not $etcd) }}
{{- fail (printf "replicas: %d needs cluster.etcdEndpoints (an etcd of yours, e.g. the bitnami/etcd chart): several brokers are a cluster on etcd" (int .Values.replicas)) }}
{{- end }}
{{- if $etcd }}
{{- if hasKey (.Values.config | default dict) "ZOMBI_NODE_ID" }}
{{- fail "config.ZOMBI_NODE_ID with cluster.etcdEndpoints: each pod's node id is its ordinal + 1; leave it out" }}
{{- end }}
{{- "true" }}
{{- end }}
{{- end }}
