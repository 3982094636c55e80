{{/*
Render-time checks that values.schema.json cannot express: every container's requests are at
most its limits, and the pods of the selected plan fit in the plan's namespace ResourceQuota
(which the provisioner applies). Included once, from wordpress-deployment.yaml; renders
nothing, or fails with a message that names the plan, the resource and both numbers.

Quantities are parsed only in the forms the schema admits: CPU "250m", "1", "1.5"; memory and
storage "512Mi", "1Gi", "1G", "1048576".
*/}}

{{/* CPU quantity -> integer millicores. */}}
{{- define "woocommerce-store.cpuMillis" -}}
{{- $q := toString . }}
{{- if hasSuffix "m" $q }}
{{- trimSuffix "m" $q | int64 }}
{{- else }}
{{- round (mulf (float64 $q) 1000) 0 | int64 }}
{{- end }}
{{- end }}

{{/* Memory or storage quantity -> integer bytes. */}}
{{- define "woocommerce-store.bytes" -}}
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
{{- define "woocommerce-store.mebibytes" -}}
{{- printf "%dMi" (div (int64 .) 1048576) }}
{{- end }}

{{- define "woocommerce-store.validate" -}}
{{- $plan := include "woocommerce-store.plan" . | fromYaml }}
{{- $name := toString .Values.plan }}
{{- $reqCpu := 0 }}
{{- $limCpu := 0 }}
{{- $reqMem := 0 }}
{{- $limMem := 0 }}
{{- $pods := 0 }}
{{- range $container := list "mariadb" "wordpress" "setup" "test" }}
{{- $r := index $plan.resources $container }}
{{- $rc := include "woocommerce-store.cpuMillis" $r.requests.cpu | int64 }}
{{- $lc := include "woocommerce-store.cpuMillis" $r.limits.cpu | int64 }}
{{- $rm := include "woocommerce-store.bytes" $r.requests.memory | int64 }}
{{- $lm := include "woocommerce-store.bytes" $r.limits.memory | int64 }}
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
{{- $why := "MariaDB, WordPress, the setup Job and the helm test pod can run at the same time" }}
{{- $qc := include "woocommerce-store.cpuMillis" $q.requestsCpu | int64 }}
{{- if gt (int64 $reqCpu) $qc }}
{{- fail (printf "plan %q does not fit its ResourceQuota: requests.cpu of all pods is %dm, the quota is %dm (%s)" $name (int64 $reqCpu) $qc $why) }}
{{- end }}
{{- $qc = include "woocommerce-store.cpuMillis" $q.limitsCpu | int64 }}
{{- if gt (int64 $limCpu) $qc }}
{{- fail (printf "plan %q does not fit its ResourceQuota: limits.cpu of all pods is %dm, the quota is %dm (%s)" $name (int64 $limCpu) $qc $why) }}
{{- end }}
{{- $qm := include "woocommerce-store.bytes" $q.requestsMemory | int64 }}
{{- if gt (int64 $reqMem) $qm }}
{{- fail (printf "plan %q does not fit its ResourceQuota: requests.memory of all pods is %s, the quota is %s (%s)" $name (include "woocommerce-store.mebibytes" $reqMem) (include "woocommerce-store.mebibytes" $qm) $why) }}
{{- end }}
{{- $qm = include "woocommerce-store.bytes" $q.limitsMemory | int64 }}
{{- if gt (int64 $limMem) $qm }}
{{- fail (printf "plan %q does not fit its ResourceQuota: limits.memory of all pods is %s, the quota is %s (%s)" $name (include "woocommerce-store.mebibytes" $limMem) (include "woocommerce-store.mebibytes" $qm) $why) }}
{{- end }}
{{- if gt (int64 $pods) (int64 $q.pods) }}
{{- fail (printf "plan %q does not fit its ResourceQuota: %d pods can run at once, the quota is %d" $name (int64 $pods) (int64 $q.pods)) }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- $storage := add (include "woocommerce-store.bytes" $plan.storage.mariadb | int64) (include "woocommerce-store.bytes" $plan.storage.wordpress | int64) }}
{{- $qs := include "woocommerce-store.bytes" $q.requestsStorage | int64 }}
{{- if gt (int64 $storage) $qs }}
{{- fail (printf "plan %q does not fit its ResourceQuota: the two volumes request %s (mariadb %s + wordpress %s), the quota is %s" $name (include "woocommerce-store.mebibytes" $storage) $plan.storage.mariadb $plan.storage.wordpress (include "woocommerce-store.mebibytes" $qs)) }}
{{- end }}
{{- end }}
{{- end }}
