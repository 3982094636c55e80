{{/*
Names, labels and small shared pieces of the woocommerce-store chart.
*/}}

{{/* Chart name, truncated to a DNS label. */}}
{{- define "woocommerce-store.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: <release>-<chart>, or <release> when it already contains
the chart name. At most 42 characters, so that "<fullname>-mariadb-headless" fits in 63 and
the StatefulSet name leaves room for the controller-revision-hash label.
*/}}
{{- define "woocommerce-store.fullname" -}}
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
{{- define "woocommerce-store.mariadb.fullname" -}}
{{- printf "%s-mariadb" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{- define "woocommerce-store.mariadb.headlessName" -}}
{{- printf "%s-mariadb-headless" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{- define "woocommerce-store.wordpress.fullname" -}}
{{- printf "%s-wordpress" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{- define "woocommerce-store.setup.fullname" -}}
{{- printf "%s-setup" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{/* chart label value: <name>-<version>. */}}
{{- define "woocommerce-store.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component. Never change these for an existing release: Deployment and
StatefulSet selectors are immutable.
Usage: include "woocommerce-store.selectorLabels" (dict "context" . "component" "web")
*/}}
{{- define "woocommerce-store.selectorLabels" -}}
app.kubernetes.io/name: {{ include "woocommerce-store.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Labels that do not change when the chart version changes. Used where Kubernetes forbids
updates (a Job's pod template, a StatefulSet's volumeClaimTemplates), so that `helm upgrade`
to a new chart version does not fail on them.
Usage: include "woocommerce-store.stableLabels" (dict "context" . "component" "setup")
*/}}
{{- define "woocommerce-store.stableLabels" -}}
{{ include "woocommerce-store.selectorLabels" . }}
app.kubernetes.io/part-of: storefleet
storefleet.io/store-id: {{ .context.Values.storeId | quote }}
{{- end }}

{{/*
Labels for every resource of a component.
Usage: include "woocommerce-store.labels" (dict "context" . "component" "database")
*/}}
{{- define "woocommerce-store.labels" -}}
helm.sh/chart: {{ include "woocommerce-store.chart" .context }}
{{ include "woocommerce-store.stableLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Image reference: repository:tag, or repository:tag@digest when a digest is set.
Usage: include "woocommerce-store.image" .Values.mariadb.image
*/}}
{{- define "woocommerce-store.image" -}}
{{- if .digest }}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/* Name of the ServiceAccount the pods use. */}}
{{- define "woocommerce-store.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "woocommerce-store.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret with db-root-password, db-password and admin-password. */}}
{{- define "woocommerce-store.credentialsSecretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else }}
{{- printf "%s-credentials" (include "woocommerce-store.fullname" .) }}
{{- end }}
{{- end }}

{{/* Name of the chart-owned Secret with the WordPress authentication keys and salts. */}}
{{- define "woocommerce-store.saltsSecretName" -}}
{{- printf "%s-wordpress-salts" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{/* Name of the wp-content PersistentVolumeClaim. */}}
{{- define "woocommerce-store.wordpress.pvcName" -}}
{{- printf "%s-wordpress" (include "woocommerce-store.fullname" .) }}
{{- end }}

{{/* Name of the TLS Secret of the Ingress. */}}
{{- define "woocommerce-store.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "woocommerce-store.fullname" .)) .Values.ingress.tls.secretName }}
{{- end }}

{{/* The store's public URL, as WordPress knows it (home and siteurl). */}}
{{- define "woocommerce-store.siteUrl" -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.host }}
{{- end }}

{{/* host:port of the MariaDB Service, for WORDPRESS_DB_HOST. */}}
{{- define "woocommerce-store.dbHost" -}}
{{- printf "%s:3306" (include "woocommerce-store.mariadb.fullname" .) }}
{{- end }}

{{/*
The selected plan as YAML (plans.<plan>); fails with a readable message when it is missing.
Usage: $plan := include "woocommerce-store.plan" . | fromYaml
*/}}
{{- define "woocommerce-store.plan" -}}
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
{{- define "woocommerce-store.storageClass" -}}
{{- with .Values.persistence.storageClass }}
{{- if eq . "-" }}
storageClassName: ""
{{- else }}
storageClassName: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Shared pod scheduling settings (nodeSelector, tolerations). */}}
{{- define "woocommerce-store.podScheduling" -}}
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
An httpGet probe from a values block (enabled, initialDelaySeconds, periodSeconds,
timeoutSeconds, failureThreshold).
Usage: include "woocommerce-store.httpProbe" (dict "probe" .Values.wordpress.startupProbe "path" "/x")
*/}}
{{- define "woocommerce-store.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: 1
{{- end }}

{{/* The same for an exec probe. Usage: (dict "probe" ... "command" (list ...)) */}}
{{- define "woocommerce-store.execProbe" -}}
exec:
  command:
    {{- toYaml .command | nindent 4 }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: 1
{{- end }}

{{/*
Replicas of every Deployment and StatefulSet: 1, or 0 while the store is suspended (its
volumes, Secret, setup Job and Ingress stay).
*/}}
{{- define "woocommerce-store.replicas" -}}
{{- if .Values.suspended }}0{{ else }}1{{ end }}
{{- end }}

{{/*
The size of a volume: what the cluster already has, else the plan's. A claim's size is set when
the store is created and stays across plan changes: a StatefulSet's volumeClaimTemplates cannot
change, a claim can never shrink, and growing one needs a storage class that can expand.
Arguments: context, kind ("PersistentVolumeClaim" or "StatefulSet"), name, planSize.
*/}}
{{- define "woocommerce-store.keptStorage" -}}
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
