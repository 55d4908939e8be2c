{{/* The app.kubernetes.io/name label: the chart's name (a Deployment's selector never changes on upgrade). */}}
{{- define "videojob.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base of every object's name: fullnameOverride; else the release name when it holds the product's name
(nameOverride, default "videojob"); else <release>-videojob. Release `videojob` gives videojob-operator,
videojob-redis, videojob-metrics; release `media` gives media-videojob-operator. At most 40 characters, so that
every suffix (and a StatefulSet's revision label) stays within 63.
*/}}
{{- define "videojob.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $base := default "videojob" .Values.nameOverride -}}
{{- if contains $base .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $base | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The operator's Deployment, ServiceAccount and RBAC: <fullname>-operator (no second "-operator"). */}}
{{- define "videojob.operatorName" -}}
{{- $full := include "videojob.fullname" . -}}
{{- if hasSuffix "operator" $full -}}
{{- $full -}}
{{- else -}}
{{- printf "%s-operator" $full -}}
{{- end -}}
{{- end -}}

{{/* The worker image: worker.image as repository and tag (tag default: the chart's appVersion), or one string. */}}
{{- define "videojob.workerImage" -}}
{{- if kindIs "string" .Values.worker.image -}}
{{- .Values.worker.image -}}
{{- else -}}
{{- printf "%s:%s" .Values.worker.image.repository (default .Chart.AppVersion .Values.worker.image.tag) -}}
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
{{- default (include "videojob.operatorName" .) .Values.serviceAccount.name -}}
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
# deletecollection by label when a VideoJob is deleted; watch: a change wakes its VideoJob. Pods are made by
# the Job controller, never by us.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete", "deletecollection"]
# The detect, segment and finalize Jobs.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
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

{{/*
The operator's environment: what the chart sets, then operator.extraEnv. An extraEnv entry with the name of a
chart-set variable replaces it (in its place, so that $(VAR) references keep their order); the rest follow.
*/}}
{{- define "videojob.operatorEnv" -}}
{{- $extra := dict -}}
{{- $extras := list -}}
{{- range .Values.operator.extraEnv -}}
{{- $e := deepCopy . -}}
{{- if hasKey $e "value" -}}
{{- /* --set operator.extraEnv[0].value=2 gives a number; an env value must be a string */ -}}
{{- $_ := set $e "value" (toString $e.value) -}}
{{- end -}}
{{- $_ := set $extra .name $e -}}
{{- $extras = append $extras $e -}}
{{- end -}}
{{- $env := list -}}
{{- range (include "videojob.chartEnv" . | fromYamlArray) -}}
{{- $env = append $env (get $extra .name | default .) -}}
{{- $_ := unset $extra .name -}}
{{- end -}}
{{- range $extras -}}
{{- if hasKey $extra .name -}}
{{- $env = append $env . -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{- define "videojob.chartEnv" -}}
- name: VIDEOJOB_WORKER_IMAGE
  value: {{ include "videojob.workerImage" . | quote }}
- name: VIDEOJOB_RESYNC_SECONDS
  value: {{ .Values.operator.resyncSeconds | quote }}
- name: VIDEOJOB_STALL_SECONDS
  value: {{ .Values.operator.stallSeconds | quote }}
- name: VIDEOJOB_STATUS_INTERVAL_SECONDS
  value: {{ .Values.operator.statusIntervalSeconds | quote }}
- name: VIDEOJOB_METRICS_PORT
  value: {{ ternary .Values.metrics.port 0 .Values.metrics.enabled | quote }}
- name: VIDEOJOB_READY_PORT
  value: "8081"
{{- if .Values.redis.enabled }}
- name: VIDEOJOB_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "videojob.redisSecretName" . }}
      key: {{ .Values.redis.auth.key }}
- name: VIDEOJOB_REDIS_URL
  value: "redis://:$(VIDEOJOB_REDIS_PASSWORD)@{{ include "videojob.fullname" . }}-redis.{{ .Release.Namespace }}.svc:6379/0"
{{- else if .Values.redis.externalUrlSecret.name }}
- name: VIDEOJOB_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.externalUrlSecret.name }}
      key: {{ .Values.redis.externalUrlSecret.key | default "redis-url" }}
{{- end }}
{{- end -}}
