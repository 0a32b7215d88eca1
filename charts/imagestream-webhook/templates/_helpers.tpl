{{/*
Names are fixed, as in manifests/: the binary's Lease, the serving
certificate's names and the webhooks' service references depend on them, and
the cluster-wide objects (CRD, ClusterRoles, webhook configurations) allow one
installation per cluster anyway.
*/}}
{{- define "imagestream-webhook.name" -}}imagestream-webhook{{- end }}

{{/* The Secret the Deployment mounts: the user's, or the one the chart or cert-manager makes. */}}
{{- define "imagestream-webhook.tlsSecretName" -}}
{{- .Values.tls.existingSecret | default "imagestream-webhook-tls" -}}
{{- end }}

{{/* The pods' labels, which the Deployment, Service and PodDisruptionBudget select. */}}
{{- define "imagestream-webhook.selectorLabels" -}}
app.kubernetes.io/name: imagestream-webhook
{{- end }}

{{/* Every object's labels: the base's, and Helm's usual ones. */}}
{{- define "imagestream-webhook.labels" -}}
{{ include "imagestream-webhook.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- end }}

{{- define "imagestream-webhook.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
How the serving certificate is made: certManager, secret (the user's) or
generated (by the chart). Refuses contradictory values with the fix.
*/}}
{{- define "imagestream-webhook.certMode" -}}
{{- if and .Values.certManager.enabled .Values.tls.existingSecret -}}
{{- fail "certManager.enabled and tls.existingSecret are two ways to get the serving certificate: set one of them" -}}
{{- else if .Values.certManager.enabled -}}
{{- if .Values.tls.caBundle -}}
{{- fail "tls.caBundle is not used with certManager.enabled (cert-manager's CA injector fills the caBundle in): leave it empty" -}}
{{- end -}}
certManager
{{- else if .Values.tls.existingSecret -}}
{{- if not (contains "-----BEGIN CERTIFICATE-----" .Values.tls.caBundle) -}}
{{- fail (printf "tls.existingSecret %s needs tls.caBundle: the PEM of the CA that signed its certificate (--set-file tls.caBundle=ca.crt)" .Values.tls.existingSecret) -}}
{{- end -}}
secret
{{- else -}}
{{- if .Values.tls.caBundle -}}
{{- fail "tls.caBundle is only used with tls.existingSecret (the chart makes its own CA otherwise): set tls.existingSecret too, or leave tls.caBundle empty" -}}
{{- end -}}
generated
{{- end -}}
{{- end }}

{{/*
The namespaces the webhooks leave out: kube-system (the control plane's pods,
DNS, the CNI), the release namespace (the webhook's own pods can always come
back), cert-manager's when it makes the certificate, and the user's.
*/}}
{{- define "imagestream-webhook.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace -}}
{{- if .Values.certManager.enabled -}}
{{- $ns = append $ns .Values.certManager.namespace -}}
{{- end -}}
{{- concat $ns .Values.webhooks.excludedNamespaces | uniq | toJson -}}
{{- end }}

{{/*
The chart-made CA and serving certificate, as a dict of PEMs (caCert, caKey,
cert, key) and the serving certificate's notAfter (RFC 3339).

Both are read back from their Secrets with `lookup` when they exist, so
`helm upgrade` keeps them (and the webhooks' caBundle) as they are. The
serving certificate is signed again, by the same CA, once it expires within
tls.generated.renewBeforeDays; the caBundle does not change then. A new CA
(and serving certificate) is made only when the CA Secret is missing or
incomplete. Without a cluster (`helm template`), lookup finds nothing and
both are new.

Called once per render (templates/tls.yaml keeps the result in
.Values.__generatedTLS), because each call of genCA makes a different CA.
*/}}
{{- define "imagestream-webhook.generateTLS" -}}
{{- $ns := .Release.Namespace -}}
{{- $svc := include "imagestream-webhook.name" . -}}
{{- $gen := .Values.tls.generated -}}
{{- $caSecret := lookup "v1" "Secret" $ns "imagestream-webhook-ca" | default dict -}}
{{- $tlsSecret := lookup "v1" "Secret" $ns "imagestream-webhook-tls" | default dict -}}
{{- $caCrt := dig "data" "tls.crt" "" $caSecret -}}
{{- $caKey := dig "data" "tls.key" "" $caSecret -}}
{{- $ca := dict -}}
{{- $keptCA := false -}}
{{- if and $caCrt $caKey -}}
{{- $ca = buildCustomCert $caCrt $caKey -}}
{{- $keptCA = true -}}
{{- else -}}
{{- $ca = genCAWithKey "imagestream-webhook-ca" (int $gen.caValidityDays) (genPrivateKey "ecdsa") -}}
{{- end -}}
{{- $out := dict "caCert" $ca.Cert "caKey" $ca.Key -}}
{{- $notAfterKey := "imagestream-webhook.io/not-after" -}}
{{- $crt := dig "data" "tls.crt" "" $tlsSecret -}}
{{- $key := dig "data" "tls.key" "" $tlsSecret -}}
{{- $signedBy := dig "data" "ca.crt" "" $tlsSecret -}}
{{- $notAfter := dig "metadata" "annotations" $notAfterKey "" $tlsSecret -}}
{{- $renewAt := now | dateModify (printf "+%dh" (mul (int $gen.renewBeforeDays) 24)) | unixEpoch -}}
{{- /* An unreadable date counts as expired (toDate gives year 1). */ -}}
{{- $fresh := gt (toDate "2006-01-02T15:04:05Z07:00" $notAfter | unixEpoch) $renewAt -}}
{{- if and $keptCA $crt $key (eq $signedBy $caCrt) $fresh -}}
{{- $_ := set $out "cert" ($crt | b64dec) -}}
{{- $_ := set $out "key" ($key | b64dec) -}}
{{- $_ := set $out "notAfter" $notAfter -}}
{{- else -}}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- $days := int $gen.validityDays -}}
{{- $cert := genSignedCertWithKey (printf "%s.%s.svc" $svc $ns) nil $names $days $ca (genPrivateKey "ecdsa") -}}
{{- $_ := set $out "cert" $cert.Cert -}}
{{- $_ := set $out "key" $cert.Key -}}
{{- $_ := set $out "notAfter" (dateInZone "2006-01-02T15:04:05Z" (now | dateModify (printf "+%dh" (mul $days 24))) "UTC") -}}
{{- end -}}
{{- toJson $out -}}
{{- end }}

{{/* The generated certificate of this render, made on first use. */}}
{{- define "imagestream-webhook.generatedTLS" -}}
{{- if not (hasKey .Values "__generatedTLS") -}}
{{- $_ := set .Values "__generatedTLS" (include "imagestream-webhook.generateTLS" . | fromJson) -}}
{{- end -}}
{{- toJson (get .Values "__generatedTLS") -}}
{{- end }}

{{/* The webhooks' caBundle (base64), empty with cert-manager (its injector fills it in). */}}
{{- define "imagestream-webhook.caBundle" -}}
{{- $mode := include "imagestream-webhook.certMode" . -}}
{{- if eq $mode "generated" -}}
{{- (include "imagestream-webhook.generatedTLS" . | fromJson).caCert | b64enc -}}
{{- else if eq $mode "secret" -}}
{{- .Values.tls.caBundle | b64enc -}}
{{- end -}}
{{- end }}

{{/* The security context of every container, as in manifests/deployment.yaml. */}}
{{- define "imagestream-webhook.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
