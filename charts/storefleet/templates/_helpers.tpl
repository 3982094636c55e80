{{/*
Names, labels and shared pieces of the storefleet platform chart.
*/}}

{{/* Chart name, truncated to a DNS label. */}}
{{- define "storefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: <release>-<chart>, or <release> when it already contains
the chart name (release "storefleet" gives "storefleet", so the provisioner's ServiceAccount is
"storefleet-provisioner"). At most 40 characters so that "-provisioner-store" still fits.
*/}}
{{- define "storefleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: <name>-<version>. */}}
{{- define "storefleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component. Never change these for an existing release: Deployment
selectors are immutable.
Usage: include "storefleet.selectorLabels" (dict "context" . "component" "intake")
*/}}
{{- define "storefleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storefleet.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every resource of a component. */}}
{{- define "storefleet.labels" -}}
helm.sh/chart: {{ include "storefleet.chart" .context }}
{{ include "storefleet.selectorLabels" . }}
app.kubernetes.io/part-of: storefleet
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/* The provisioner's ServiceAccount name: <fullname>-provisioner. */}}
{{- define "storefleet.provisioner.serviceAccountName" -}}
{{- printf "%s-provisioner" (include "storefleet.fullname" .) }}
{{- end }}

{{/* The ServiceAccount of intake, projector, query and the dashboard: no API access, no token. */}}
{{- define "storefleet.workload.serviceAccountName" -}}
{{- printf "%s-workload" (include "storefleet.fullname" .) }}
{{- end }}

{{/* Namespace of the per-store Leases: a namespace of their own by default, <fullname>-leases
(docs/decisions/0009-provisioner-reads.md). */}}
{{- define "storefleet.leaseNamespace" -}}
{{- default (printf "%s-leases" (include "storefleet.fullname" .)) .Values.provisioner.leaseNamespace }}
{{- end }}

{{/* The Kubernetes username the provisioner's token authenticates as. */}}
{{- define "storefleet.provisioner.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "storefleet.provisioner.serviceAccountName" .) }}
{{- end }}

{{/* Image of a storefleet service: <registry>/storefleet-<service>:<tag>. */}}
{{- define "storefleet.image" -}}
{{- printf "%s/storefleet-%s:%s" .context.Values.image.registry .service (default .context.Chart.AppVersion .context.Values.image.tag) }}
{{- end }}

{{/* Service name of a component. */}}
{{- define "storefleet.componentName" -}}
{{- printf "%s-%s" (include "storefleet.fullname" .context) .component }}
{{- end }}

{{/*
Environment every service gets: the Postgres URL from the existing Secret and the Kafka
brokers. Usage: include "storefleet.commonEnv" (dict "context" . "kafka" true "postgres" true)
*/}}
{{- define "storefleet.commonEnv" -}}
- name: STOREFLEET_HTTP_ADDRESS
  value: "0.0.0.0"
- name: STOREFLEET_HTTP_PORT
  value: "8080"
{{- if .postgres }}
- name: STOREFLEET_PG_URL
  valueFrom:
    secretKeyRef:
      name: {{ .context.Values.postgres.existingSecret }}
      key: {{ .context.Values.postgres.urlKey }}
{{- end }}
{{- if .kafka }}
- name: STOREFLEET_KAFKA_BROKERS
  value: {{ .context.Values.kafka.brokers | quote }}
{{- end }}
{{- end }}

{{/* The three probes of a storefleet service on its port "http". */}}
{{- define "storefleet.probes" -}}
{{- $p := .Values.probes }}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
{{- end }}

{{/*
Scheduling of a component's pods: node selector, tolerations and one topology spread
constraint per key. Usage: include "storefleet.scheduling" (dict "context" . "component" "intake")
*/}}
{{- define "storefleet.scheduling" -}}
{{- with .context.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .context.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .context.Values.topologySpread.enabled }}
topologySpreadConstraints:
{{- range .context.Values.topologySpread.topologyKeys }}
  - maxSkew: {{ $.context.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $.context.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "storefleet.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A PodDisruptionBudget for a component. Usage:
include "storefleet.pdb" (dict "context" . "component" "intake" "values" .Values.intake)
*/}}
{{- define "storefleet.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "storefleet.componentName" . }}
  labels:
    {{- include "storefleet.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "storefleet.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* A ClusterIP Service for a component's port "http" (80), and its port "stream" (8081) when "stream" is set. */}}
{{- define "storefleet.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "storefleet.componentName" . }}
  labels:
    {{- include "storefleet.labels" . | nindent 4 }}
    {{- if ne .component "dashboard" }}
    {{- /* Serves Prometheus /metrics on its http port: what servicemonitor.yaml selects. */}}
    storefleet.io/metrics: "true"
    {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "storefleet.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
    {{- if .stream }}
    - name: stream
      port: 8081
      targetPort: stream
      protocol: TCP
    {{- end }}
{{- end }}

{{/*
A Deployment of one storefleet component. Usage:
include "storefleet.deployment" (dict "context" . "component" "intake" "values" .Values.intake
  "image" "<image>" "env" "<yaml list>" "volumeMounts" "<yaml list>" "volumes" "<yaml list>"
  "serviceAccountName" "<name>" "automountToken" false "port" 8080 "streamPort" 8081 "probes" "<yaml>")
Everything the pod needs is in env; the root filesystem is read-only, so writable paths are
emptyDir volumes; /tmp always is.
*/}}
{{- define "storefleet.deployment" -}}
{{- $ctx := .context }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "storefleet.componentName" . }}
  labels:
    {{- include "storefleet.labels" . | nindent 4 }}
spec:
  replicas: {{ .values.replicas }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels:
      {{- include "storefleet.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "storefleet.labels" . | nindent 8 }}
      {{- with .annotations }}
      annotations:
        {{- . | trim | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccountName }}
      automountServiceAccountToken: {{ .automountToken }}
      enableServiceLinks: false
      # SIGTERM drains in-flight work (the provisioner cancels Helm and commits what finished).
      terminationGracePeriodSeconds: {{ default 30 .terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      {{- with $ctx.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with include "storefleet.scheduling" . }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ .image | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          {{- with .env }}
          env:
            {{- . | trim | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ default 8080 .port }}
              protocol: TCP
            {{- with .streamPort }}
            - name: stream
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
          {{- .probes | trim | nindent 10 }}
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .volumeMounts }}
            {{- . | trim | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- with .volumes }}
        {{- . | trim | nindent 8 }}
        {{- end }}
{{- end }}
