#!/usr/bin/env bash
# From nothing to a running Ledgerline on kind, for a machine with Docker, kind, helm, kubectl
# and skaffold. Safe to re-run: every step is "create or upgrade".
#
#   k8s/bootstrap-kind.sh            create the cluster, install operators, deploy Ledgerline
#   CLUSTER_NAME=ll k8s/bootstrap-kind.sh
#   SKIP_MONITORING=1 k8s/bootstrap-kind.sh   without kube-prometheus-stack (saves ~1.5 GiB RAM)
#   SKIP_INGRESS=1 k8s/bootstrap-kind.sh      without ingress-nginx (use skaffold's port-forwards)
#
# Versions are pinned here so every developer gets the same stack.
set -euo pipefail

CLUSTER_NAME="${CLUSTER_NAME:-ledgerline}"
STRIMZI_CHART_VERSION="${STRIMZI_CHART_VERSION:-1.2.0}"           # Strimzi operator 1.2.0
CNPG_CHART_VERSION="${CNPG_CHART_VERSION:-0.29.0}"                # chart for CloudNativePG 1.30
KPS_CHART_VERSION="${KPS_CHART_VERSION:-88.5.3}"                  # kube-prometheus-stack
INGRESS_NGINX_CHART_VERSION="${INGRESS_NGINX_CHART_VERSION:-4.13.3}"
HELM_TIMEOUT="${HELM_TIMEOUT:-10m}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="${ROOT}/k8s"

log() { printf '\n==> %s\n' "$*"; }

require() {
  local missing=0
  for tool in docker kind helm kubectl skaffold; do
    if ! command -v "${tool}" > /dev/null 2>&1; then
      echo "missing: ${tool}" >&2
      missing=1
    fi
  done
  if [[ "${missing}" -ne 0 ]]; then
    echo "Install the tools above (see docs/kubernetes.md) and run this script again." >&2
    exit 1
  fi
  docker info > /dev/null 2>&1 || { echo "Docker is installed but not running." >&2; exit 1; }
}

create_cluster() {
  if kind get clusters 2> /dev/null | grep -qx "${CLUSTER_NAME}"; then
    log "kind cluster ${CLUSTER_NAME} exists"
  else
    log "creating kind cluster ${CLUSTER_NAME} (1 control plane, 2 workers)"
    kind create cluster --name "${CLUSTER_NAME}" --config "${ROOT}/kind-config.yaml" --wait 120s
  fi
  kubectl config use-context "kind-${CLUSTER_NAME}"
  kubectl apply -f "${K8S}/namespaces.yaml"
}

add_repos() {
  log "adding Helm repositories"
  helm repo add strimzi https://strimzi.io/charts/ --force-update
  helm repo add cnpg https://cloudnative-pg.github.io/charts --force-update
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
  helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx --force-update
  helm repo update
}

install_operators() {
  log "installing the Strimzi operator ${STRIMZI_CHART_VERSION}"
  helm upgrade --install strimzi strimzi/strimzi-kafka-operator \
    --version "${STRIMZI_CHART_VERSION}" --namespace strimzi \
    --values "${K8S}/strimzi-values.yaml" --wait --timeout "${HELM_TIMEOUT}"

  log "installing the CloudNativePG operator (chart ${CNPG_CHART_VERSION})"
  helm upgrade --install cnpg cnpg/cloudnative-pg \
    --version "${CNPG_CHART_VERSION}" --namespace cnpg-system \
    --values "${K8S}/cnpg-values.yaml" --wait --timeout "${HELM_TIMEOUT}"

  if [[ -z "${SKIP_MONITORING:-}" ]]; then
    log "installing kube-prometheus-stack ${KPS_CHART_VERSION}"
    # The release name is the `release` label Ledgerline's ServiceMonitors carry.
    helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
      --version "${KPS_CHART_VERSION}" --namespace monitoring \
      --values "${K8S}/kube-prometheus-stack-values.yaml" --wait --timeout "${HELM_TIMEOUT}"
  fi

  if [[ -z "${SKIP_INGRESS:-}" ]]; then
    log "installing ingress-nginx ${INGRESS_NGINX_CHART_VERSION} on the ingress-ready node"
    helm upgrade --install ingress-nginx ingress-nginx/ingress-nginx \
      --version "${INGRESS_NGINX_CHART_VERSION}" --namespace ingress-nginx --create-namespace \
      --values "${K8S}/ingress-nginx-values.yaml" --wait --timeout "${HELM_TIMEOUT}"
  fi

  log "waiting for the operators' CRDs"
  kubectl wait --for=condition=Established --timeout=120s \
    crd/kafkas.kafka.strimzi.io crd/kafkanodepools.kafka.strimzi.io \
    crd/clusters.postgresql.cnpg.io crd/databases.postgresql.cnpg.io
}

deploy_ledgerline() {
  log "building the images and deploying Ledgerline (skaffold run -p dev)"
  # The first install waits for Kafka and PostgreSQL to bootstrap; migrations run after that.
  (cd "${ROOT}" && skaffold run -p dev --kube-context "kind-${CLUSTER_NAME}" --status-check=true)

  log "Ledgerline is up"
  kubectl -n ledgerline get kafka,cluster.postgresql.cnpg.io,lltopic,pods
  cat <<EOT

Next:
  helm test ledgerline -n ledgerline              # every service's /readyz
  kubectl -n ledgerline port-forward svc/ledgerline-payment 8080:8080
  curl http://ledgerline.localtest.me/v1/...      # through ingress-nginx (unless SKIP_INGRESS)
  skaffold dev -p dev                             # rebuild and redeploy on every change
EOT
}

require
create_cluster
add_repos
install_operators
deploy_ledgerline
