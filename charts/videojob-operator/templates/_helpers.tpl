{{- define "videojob.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "videojob.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "videojob.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "videojob.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "videojob.selectorLabels" -}}
app.kubernetes.io/name: {{ include "videojob.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "videojob.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "videojob.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the operator watches (default: the release namespace; cluster-wide mode needs the list). */}}
{{- define "videojob.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- .Values.watchNamespaces | uniq | toJson -}}
{{- else if .Values.clusterWide -}}
{{- fail "clusterWide: true needs watchNamespaces, the explicit list of namespaces whose VideoJobs the operator handles (e.g. --set 'watchNamespaces={media,team-b}'); it never handles every namespace. Or leave clusterWide false for a Role in each listed namespace (the release namespace by default)." -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/* Values the chart refuses, with the way to say it instead. */}}
{{- define "videojob.validate" -}}
{{- if .Values.redis.externalUrl -}}
{{- fail "redis.externalUrl would put the Redis URL, password included, in plain text in the operator's Deployment: put the URL in a Secret and set redis.externalUrlSecret.name (and .key, default redis-url) instead" -}}
{{- end -}}
{{- $_ := include "videojob.watchNamespaces" . -}}
{{- end -}}

{{- define "videojob.redisSecretName" -}}
{{- default (printf "%s-redis" (include "videojob.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/*
The operator's RBAC rules: exactly those of deploy/manifests/rbac.yaml (tests/ship compares them).
*/}}
{{- define "videojob.rules" -}}
# The custom resource: watch it, keep kopf's annotations, delete it after ttlSecondsAfterFinished.
- apiGroups: ["videojob.dev"]
  resources: ["videojobs"]
  verbs: ["get", "list", "watch", "patch", "delete"]
- apiGroups: ["videojob.dev"]
  resources: ["videojobs/status"]
  verbs: ["get", "patch"]
# Children carry blockOwnerDeletion owner references (OwnerReferencesPermissionEnforcement).
- apiGroups: ["videojob.dev"]
  resources: ["videojobs/finalizers"]
  verbs: ["update"]
# The Jobs' pods: read termination messages and why a pod cannot start; delete a stalled segment pod;
# deletecollection by label when a VideoJob is deleted. Pods are made by the Job controller, never by us.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "delete", "deletecollection"]
# The detect, segment and finalize Jobs.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create", "patch", "delete"]
# Secrets: create each VideoJob's Secret with the operator's Redis URL for its segment pods; get (never list)
# the one a VideoJob names in spec.redis.urlSecretRef, to read progress from the same Redis.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create"]
# One writer per output file: a Lease per output, held while a VideoJob writes it.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update", "delete"]
# Events on VideoJobs.
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
