{{/*
Render-time checks that values.schema.json cannot express: every container's requests are at
most its limits, and the pods, claims and Services of the selected plan fit in the plan's
namespace ResourceQuota (which the provisioner applies). Included once, from
medusa-deployment.yaml; renders nothing, or fails with a message that names the plan, the
resource and both numbers.

Quantities are parsed only in the forms the schema admits: CPU "250m", "1", "1.5"; memory and
storage "512Mi", "1Gi", "1G", "1048576".
*/}}

{{/* CPU quantity -> integer millicores. */}}
{{- define "medusa-store.cpuMillis" -}}
{{- $q := toString . }}
{{- if hasSuffix "m" $q }}
{{- trimSuffix "m" $q | int64 }}
{{- else }}
{{- round (mulf (float64 $q) 1000) 0 | int64 }}
{{- end }}
{{- end }}

{{/* Memory or storage quantity -> integer bytes. */}}
{{- define "medusa-store.bytes" -}}
{{- $q := toString . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $suffix := trimPrefix $number $q }}
{{- $factors := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- if not (hasKey $factors $suffix) }}
{{- fail (printf "cannot parse quantity %q" $q) }}
{{- end }}
{{- round (mulf (float64 $number) (get $factors $suffix)) 0 | int64 }}
{{- end }}

{{/* Bytes -> "<n>Mi" for messages. */}}
{{- define "medusa-store.mebibytes" -}}
{{- printf "%dMi" (div (int64 .) 1048576) }}
{{- end }}

{{- define "medusa-store.validate" -}}
{{- $plan := include "medusa-store.plan" . | fromYaml }}
{{- $name := toString .Values.plan }}
{{- $reqCpu := 0 }}
{{- $limCpu := 0 }}
{{- $reqMem := 0 }}
{{- $limMem := 0 }}
{{- $pods := 0 }}
{{- /* One pod each; init containers use their pod's main-container resources (see values.yaml). */}}
{{- range $container := list "postgresql" "redis" "medusa" "setup" "test" }}
{{- $r := index $plan.resources $container }}
{{- $rc := include "medusa-store.cpuMillis" $r.requests.cpu | int64 }}
{{- $lc := include "medusa-store.cpuMillis" $r.limits.cpu | int64 }}
{{- $rm := include "medusa-store.bytes" $r.requests.memory | int64 }}
{{- $lm := include "medusa-store.bytes" $r.limits.memory | int64 }}
{{- if gt $rc $lc }}
{{- fail (printf "plans.%s.resources.%s: requests.cpu %s is more than limits.cpu %s" $name $container $r.requests.cpu $r.limits.cpu) }}
{{- end }}
{{- if gt $rm $lm }}
{{- fail (printf "plans.%s.resources.%s: requests.memory %s is more than limits.memory %s" $name $container $r.requests.memory $r.limits.memory) }}
{{- end }}
{{- $reqCpu = add $reqCpu $rc }}
{{- $limCpu = add $limCpu $lc }}
{{- $reqMem = add $reqMem $rm }}
{{- $limMem = add $limMem $lm }}
{{- $pods = add1 $pods }}
{{- end }}
{{- $q := $plan.quota }}
{{- $why := "PostgreSQL, Redis, Medusa, the setup Job and the helm test pod can run at the same time" }}
{{- $qc := include "medusa-store.cpuMillis" $q.requestsCpu | int64 }}
{{- if gt (int64 $reqCpu) $qc }}
{{- fail (printf "plan %q does not fit its ResourceQuota: requests.cpu of all pods is %dm, the quota is %dm (%s)" $name (int64 $reqCpu) $qc $why) }}
{{- end }}
{{- $qc = include "medusa-store.cpuMillis" $q.limitsCpu | int64 }}
{{- if gt (int64 $limCpu) $qc }}
{{- fail (printf "plan %q does not fit its ResourceQuota: limits.cpu of all pods is %dm, the quota is %dm (%s)" $name (int64 $limCpu) $qc $why) }}
{{- end }}
{{- $qm := include "medusa-store.bytes" $q.requestsMemory | int64 }}
{{- if gt (int64 $reqMem) $qm }}
{{- fail (printf "plan %q does not fit its ResourceQuota: requests.memory of all pods is %s, the quota is %s (%s)" $name (include "medusa-store.mebibytes" $reqMem) (include "medusa-store.mebibytes" $qm) $why) }}
{{- end }}
{{- $qm = include "medusa-store.bytes" $q.limitsMemory | int64 }}
{{- if gt (int64 $limMem) $qm }}
{{- fail (printf "plan %q does not fit its ResourceQuota: limits.memory of all pods is %s, the quota is %s (%s)" $name (include "medusa-store.mebibytes" $limMem) (include "medusa-store.mebibytes" $qm) $why) }}
{{- end }}
{{- if gt (int64 $pods) (int64 $q.pods) }}
{{- fail (printf "plan %q does not fit its ResourceQuota: %d pods can run at once, the quota is %d" $name (int64 $pods) (int64 $q.pods)) }}
{{- end }}
{{- /* Services: medusa, postgresql, postgresql-headless, redis. */}}
{{- if gt 4 (int64 $q.services) }}
{{- fail (printf "plan %q does not fit its ResourceQuota: the chart creates 4 Services, the quota is %d" $name (int64 $q.services)) }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- $claims := list "postgresql" "redis" "medusa" }}
{{- if gt (len $claims) (int $q.persistentVolumeClaims) }}
{{- fail (printf "plan %q does not fit its ResourceQuota: the chart creates %d PersistentVolumeClaims, the quota is %d" $name (len $claims) (int64 $q.persistentVolumeClaims)) }}
{{- end }}
{{- $storage := 0 }}
{{- range $claim := $claims }}
{{- $storage = add $storage (include "medusa-store.bytes" (index $plan.storage $claim) | int64) }}
{{- end }}
{{- $qs := include "medusa-store.bytes" $q.requestsStorage | int64 }}
{{- if gt (int64 $storage) $qs }}
{{- fail (printf "plan %q does not fit its ResourceQuota: the three volumes request %s (postgresql %s + redis %s + medusa uploads %s), the quota is %s" $name (include "medusa-store.mebibytes" $storage) $plan.storage.postgresql $plan.storage.redis $plan.storage.medusa (include "medusa-store.mebibytes" $qs)) }}
{{- end }}
{{- end }}
{{- end }}
