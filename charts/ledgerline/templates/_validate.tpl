{{/*
ledgerline.validate: checks that span several values and so cannot be expressed in
values.schema.json. Each failure names the keys to change, because a bad combination would
otherwise surface only later as a stuck rollout or a Job waiting for a Secret.
*/}}
{{- define "ledgerline.validate" -}}
{{- range $c := splitList "," (include "ledgerline.components" .) }}
{{- $v := index $.Values.services $c }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "services.%s.autoscaling.minReplicas (%v) is greater than maxReplicas (%v)" $c $v.autoscaling.minReplicas $v.autoscaling.maxReplicas) }}
{{- end }}
{{- $floor := ternary $v.autoscaling.minReplicas $v.replicaCount $v.autoscaling.enabled }}
{{- if and $v.pdb.enabled (or (kindIs "float64" $v.pdb.minAvailable) (kindIs "int64" $v.pdb.minAvailable) (kindIs "int" $v.pdb.minAvailable)) (ge (int $v.pdb.minAvailable) (int $floor)) }}
{{- fail (printf "services.%s.pdb.minAvailable (%v) must be lower than the replica count (%v), or no node could ever be drained" $c $v.pdb.minAvailable $floor) }}
{{- end }}
{{- end }}
{{- if eq .Values.migrations.installHook "pre-install" }}
{{- if .Values.postgres.create }}
{{- fail "migrations.installHook=pre-install cannot work with postgres.create=true: the databases are created by this release, after pre-install hooks; use post-install" }}
{{- end }}
{{- range $svc := splitList "," (include "ledgerline.dbServices" .) }}
{{- if not (index $.Values.postgres.databases $svc).existingSecret }}
{{- fail (printf "migrations.installHook=pre-install needs postgres.databases.%s.existingSecret: a pre-install hook runs before the chart's own Secrets exist" $svc) }}
{{- end }}
{{- end }}
{{- if not .Values.services.identity.keyEncryption.existingSecret }}
{{- fail "migrations.installHook=pre-install needs services.identity.keyEncryption.existingSecret: a pre-install hook runs before the chart's own Secrets exist" }}
{{- end }}
{{- if or .Values.redis.create (not .Values.redis.external.existingSecret) }}
{{- fail "migrations.installHook=pre-install needs redis.create=false and redis.external.existingSecret: a pre-install hook runs before the chart's own Secrets exist" }}
{{- end }}
{{- end }}
{{- if and (not .Values.redis.create) (not .Values.redis.external.url) (not .Values.redis.external.existingSecret) }}
{{- fail "redis.create is false: set redis.external.url or redis.external.existingSecret" }}
{{- end }}
{{- if and .Values.kafka.create .Values.topics.create (gt (int .Values.topics.replicationFactor) (int .Values.kafka.replicas)) }}
{{- fail (printf "topics.replicationFactor (%v) exceeds kafka.replicas (%v): Kafka cannot place more replicas than brokers" .Values.topics.replicationFactor .Values.kafka.replicas) }}
{{- end }}
{{- end -}}
