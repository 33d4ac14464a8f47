{{/* Names and labels shared by every template. Only the template subset of docs/deploy.md is used. */}}
{{- define "vidmesh.fullname" -}}
{{- printf "%s-vidmesh" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vidmesh.labels" -}}
app.kubernetes.io/name: vidmesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vidmesh.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "vidmesh.secretName" -}}
{{- default (include "vidmesh.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}
