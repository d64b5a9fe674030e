{{/*
Naming and labels for the ledgerline-operator chart, namespaced `ledgerline-operator.*` so
they never collide with the ledgerline chart's helpers when both are used together.
*/}}

{{/*
ledgerline-operator.name: the chart name, overridable so objects can be renamed without a fork.
*/}}
{{- define "ledgerline-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ledgerline-operator.fullname: the prefix of every object name, within the 63-character limit.
*/}}
{{- define "ledgerline-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
ledgerline-operator.chart: the helm.sh/chart label value, naming the chart version that made an object.
*/}}
{{- define "ledgerline-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ledgerline-operator.selectorLabels: the immutable labels used in selectors; changing them would
make the Deployment impossible to upgrade in place.
*/}}
{{- define "ledgerline-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ledgerline-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
ledgerline-operator.labels: Kubernetes recommended labels on every object, so everything the
release owns can be listed and grouped with one selector.
*/}}
{{- define "ledgerline-operator.labels" -}}
{{ include "ledgerline-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ledgerline
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "ledgerline-operator.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
ledgerline-operator.serviceAccountName: the identity the RBAC rules are bound to.
*/}}
{{- define "ledgerline-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ledgerline-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
ledgerline-operator.peeringName: the ClusterKopfPeering the operator joins; instances that share
it elect one active handler, so a second copy (or a developer's local `kopf run`) pauses.
*/}}
{{- define "ledgerline-operator.peeringName" -}}
{{- default (include "ledgerline-operator.fullname" .) .Values.peering.name -}}
{{- end -}}

{{/*
ledgerline-operator.image: a digest wins over a tag, so a pinned release cannot drift.
*/}}
{{- define "ledgerline-operator.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}
