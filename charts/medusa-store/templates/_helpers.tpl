{{/*
Names, labels and small shared pieces of the medusa-store chart.
*/}}

{{/* Chart name, truncated to a DNS label. */}}
{{- define "medusa-store.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: <release>-<chart>, or <release> when it already contains
the chart name. At most 42 characters, so that "<fullname>-postgresql-headless" fits in 63 and
the StatefulSet name leaves room for the controller-revision-hash label.
*/}}
{{- define "medusa-store.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Component resource names. */}}
{{- define "medusa-store.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "medusa-store.fullname" .) }}
{{- end }}

{{- define "medusa-store.postgresql.headlessName" -}}
{{- printf "%s-postgresql-headless" (include "medusa-store.fullname" .) }}
{{- end }}

{{- define "medusa-store.redis.fullname" -}}
{{- printf "%s-redis" (include "medusa-store.fullname" .) }}
{{- end }}

{{- define "medusa-store.medusa.fullname" -}}
{{- printf "%s-medusa" (include "medusa-store.fullname" .) }}
{{- end }}

{{- define "medusa-store.setup.fullname" -}}
{{- printf "%s-setup" (include "medusa-store.fullname" .) }}
{{- end }}

{{/* chart label value: <name>-<version>. */}}
{{- define "medusa-store.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component. Never change these for an existing release: Deployment and
StatefulSet selectors are immutable.
Usage: include "medusa-store.selectorLabels" (dict "context" . "component" "web")
*/}}
{{- define "medusa-store.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medusa-store.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Labels that do not change when the chart version changes. Used where Kubernetes forbids
updates (a Job's pod template, a StatefulSet's volumeClaimTemplates), so that `helm upgrade`
to a new chart version does not fail on them.
Usage: include "medusa-store.stableLabels" (dict "context" . "component" "setup")
*/}}
{{- define "medusa-store.stableLabels" -}}
{{ include "medusa-store.selectorLabels" . }}
app.kubernetes.io/part-of: storefleet
storefleet.io/store-id: {{ .context.Values.storeId | quote }}
{{- end }}

{{/*
Labels for every resource of a component.
Usage: include "medusa-store.labels" (dict "context" . "component" "database")
*/}}
{{- define "medusa-store.labels" -}}
helm.sh/chart: {{ include "medusa-store.chart" .context }}
{{ include "medusa-store.stableLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Image reference: repository:tag, or repository:tag@digest when a digest is set.
Usage: include "medusa-store.image" .Values.postgresql.image
*/}}
{{- define "medusa-store.image" -}}
{{- if .digest }}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/* Name of the ServiceAccount the pods use. */}}
{{- define "medusa-store.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "medusa-store.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret with db-root-password, db-password, admin-password, jwt-secret, cookie-secret. */}}
{{- define "medusa-store.credentialsSecretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else }}
{{- printf "%s-credentials" (include "medusa-store.fullname" .) }}
{{- end }}
{{- end }}

{{/* Name of the chart-owned Secret with the Redis password. */}}
{{- define "medusa-store.redis.secretName" -}}
{{- printf "%s-redis" (include "medusa-store.fullname" .) }}
{{- end }}

{{/* Names of the PersistentVolumeClaims of Redis and of Medusa's uploads. */}}
{{- define "medusa-store.redis.pvcName" -}}
{{- printf "%s-redis" (include "medusa-store.fullname" .) }}
{{- end }}

{{- define "medusa-store.medusa.uploadsPvcName" -}}
{{- printf "%s-medusa-uploads" (include "medusa-store.fullname" .) }}
{{- end }}

{{/* Name of the TLS Secret of the Ingress. */}}
{{- define "medusa-store.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "medusa-store.fullname" .)) .Values.ingress.tls.secretName }}
{{- end }}

{{/* The store's public URL: http(s)://<host>. */}}
{{- define "medusa-store.publicUrl" -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.host }}
{{- end }}

{{/*
Environment of every Medusa process (server, migrations, seed): database and Redis URLs with the
passwords from Secrets (expanded by the kubelet, so no password is in the pod spec), the auth
secrets and the public URL. With "configMap" set, the values that follow the host (public URL,
cookie security) come from that ConfigMap instead of the pod template: the setup Job's template
is immutable and must not change with the host.
Usage: include "medusa-store.medusaEnv" (dict "context" . "configMap" "")
*/}}
{{- define "medusa-store.medusaEnv" -}}
{{- $ctx := .context }}
{{- $configMap := .configMap }}
{{- $secret := include "medusa-store.credentialsSecretName" $ctx -}}
# The root filesystem is read-only: the Medusa CLI's config store (configstore, under
# $XDG_CONFIG_HOME) goes to the /tmp emptyDir, else it fails at start with ENOENT on mkdir
# /home/node/.config/medusa.
- name: XDG_CONFIG_HOME
  value: /tmp/.config
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: db-password
# sslmode=disable: the store's own PostgreSQL serves no TLS, and Medusa (2.15+) asks for TLS on
# every host that is not localhost unless the URL says otherwise; its migrations then hang
# until "Could not connect to the database while running migrations" (10 s timeout).
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(DB_PASSWORD)@%s:5432/%s?sslmode=disable" $ctx.Values.postgresql.auth.username (include "medusa-store.postgresql.fullname" $ctx) $ctx.Values.postgresql.auth.database | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "medusa-store.redis.secretName" $ctx }}
      key: redis-password
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379" (include "medusa-store.redis.fullname" $ctx) | quote }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: jwt-secret
- name: COOKIE_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: cookie-secret
{{- if $configMap }}
{{- range $key := list "MEDUSA_PUBLIC_URL" "MEDUSA_COOKIE_SECURE" }}
- name: {{ $key }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $key }}
{{- end }}
{{- else }}
- name: MEDUSA_PUBLIC_URL
  value: {{ include "medusa-store.publicUrl" $ctx | quote }}
- name: MEDUSA_COOKIE_SECURE
  value: {{ $ctx.Values.ingress.tls.enabled | quote }}
{{- end }}
- name: MEDUSA_DISABLE_TELEMETRY
  value: "true"
- name: NODE_ENV
  value: production
{{- end }}

{{/*
NODE_OPTIONS with a V8 heap limit of `percent` of the container's memory limit, so Node collects
garbage before the kernel kills the container.
Usage: include "medusa-store.nodeOptions" (dict "limit" "1536Mi" "percent" 75)
*/}}
{{- define "medusa-store.nodeOptions" -}}
{{- $mib := div (include "medusa-store.bytes" .limit | int64) 1048576 }}
{{- printf "--max-old-space-size=%d" (div (mul $mib (int64 .percent)) 100) }}
{{- end }}

{{/*
The selected plan as YAML (plans.<plan>); fails with a readable message when it is missing.
Usage: $plan := include "medusa-store.plan" . | fromYaml
*/}}
{{- define "medusa-store.plan" -}}
{{- $plan := get .Values.plans (toString .Values.plan) }}
{{- if not $plan }}
{{- fail (printf "plan %q is not defined under `plans` (expected small, medium or large)" (toString .Values.plan)) }}
{{- end }}
{{- toYaml $plan }}
{{- end }}

{{/*
storageClassName line for a PersistentVolumeClaim spec: omitted for "" (default class),
empty for "-" (no dynamic provisioning), else the class.
*/}}
{{- define "medusa-store.storageClass" -}}
{{- with .Values.persistence.storageClass }}
{{- if eq . "-" }}
storageClassName: ""
{{- else }}
storageClassName: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Shared pod scheduling settings (nodeSelector, tolerations). */}}
{{- define "medusa-store.podScheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Probe timing fields from a values block (initialDelaySeconds, periodSeconds, timeoutSeconds,
failureThreshold); the caller writes the handler.
*/}}
{{- define "medusa-store.probeTiming" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: 1
{{- end }}

{{/*
An httpGet probe. Usage: include "medusa-store.httpProbe" (dict "probe" .Values.medusa.startupProbe "path" "/health")
*/}}
{{- define "medusa-store.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{ include "medusa-store.probeTiming" .probe }}
{{- end }}

{{/* An exec probe. Usage: (dict "probe" ... "command" (list ...)) */}}
{{- define "medusa-store.execProbe" -}}
exec:
  command:
    {{- toYaml .command | nindent 4 }}
{{ include "medusa-store.probeTiming" .probe }}
{{- end }}

{{/*
Replicas of every Deployment and StatefulSet: 1, or 0 while the store is suspended (its
volumes, Secret, setup Job and Ingress stay).
*/}}
{{- define "medusa-store.replicas" -}}
{{- if .Values.suspended }}0{{ else }}1{{ end }}
{{- end }}

{{/*
The size of a volume: what the cluster already has, else the plan's. A claim's size is set when
the store is created and stays across plan changes: a StatefulSet's volumeClaimTemplates cannot
change, a claim can never shrink, and growing one needs a storage class that can expand.
Arguments: context, kind ("PersistentVolumeClaim" or "StatefulSet"), name, planSize.
*/}}
{{- define "medusa-store.keptStorage" -}}
{{- $size := .planSize }}
{{- if eq .kind "StatefulSet" }}
{{- with lookup "apps/v1" "StatefulSet" .context.Release.Namespace .name }}
{{- range .spec.volumeClaimTemplates | default list }}
{{- $size = .spec.resources.requests.storage | default $size }}
{{- end }}
{{- end }}
{{- else }}
{{- with lookup "v1" "PersistentVolumeClaim" .context.Release.Namespace .name }}
{{- $size = .spec.resources.requests.storage | default $size }}
{{- end }}
{{- end }}
{{- $size }}
{{- end }}
