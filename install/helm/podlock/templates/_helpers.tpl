{{/* The image of every container. */}}
{{- define "podlock.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/* The labels of a component's objects: the component's name as argument. */}}
{{- define "podlock.labels" -}}
app.kubernetes.io/name: podlock
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/*
The address of a probe or metrics server of a workload: every address of
the pod's network, or only the loopback one in the host's network.
Argument: (list hostNetwork port).
*/}}
{{- define "podlock.listen" -}}
{{ if index . 0 }}127.0.0.1{{ end }}:{{ index . 1 }}
{{- end }}

{{/*
An HTTP probe of path on port: in the host's network, on 127.0.0.1, where
the kubelet reaches the server. Argument: (list hostNetwork port path).
*/}}
{{- define "podlock.httpProbe" -}}
httpGet:
  path: {{ index . 2 }}
  port: {{ index . 1 }}
  {{- if index . 0 }}
  host: 127.0.0.1
  {{- end }}
{{- end }}

{{/* KUBERNETES_SERVICE_HOST and _PORT, when kubernetesAPI sets them. */}}
{{- define "podlock.apiEnv" -}}
{{- with .Values.kubernetesAPI.host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kubernetesAPI.port }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ . | toString | quote }}
{{- end }}
{{- end }}
