{{/*
ledgerline.dependencyEgress: egress rules to Kafka, PostgreSQL and Redis for the four services,
kept apart so the create/external switch reads in one place. Pods
created by Strimzi carry `strimzi.io/cluster`, pods created by CloudNativePG `cnpg.io/cluster`.
*/}}
{{- define "ledgerline.dependencyEgress" -}}
- ports:
    - port: 9092
      protocol: TCP
  {{- if .Values.kafka.create }}
  to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "ledgerline.kafkaName" . }}
  {{- end }}
- ports:
    - port: 5432
      protocol: TCP
  {{- if .Values.postgres.create }}
  to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "ledgerline.pgClusterName" . }}
  {{- end }}
- ports:
    - port: 6379
      protocol: TCP
  {{- if .Values.redis.create }}
  to:
    - podSelector:
        matchLabels:
          {{- include "ledgerline.selectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  {{- end }}
{{- end -}}
