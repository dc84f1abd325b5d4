#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./run.sh serve   install into .venv (first time) and run the gateway
#   ./run.sh test    install everything the tests need (Chromium from Debian too) and run the whole suite
set -euo pipefail
cd "$(dirname "$0")"

venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
}

case "${1:-}" in
  serve)
    shift
    venv
    .venv/bin/python -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
    exec .venv/bin/voice-gateway serve "$@"
    ;;
  test)
    shift
    if ! command -v chromium >/dev/null 2>&1 || ! command -v pg_virtualenv >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi ipa; then
      # headless Chromium for the browser tests, a Japanese font so screenshots show the page's text,
      # and a PostgreSQL server for the store's PostgreSQL test
      SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-ipafont-gothic postgresql >/dev/null
    fi
    venv
    .venv/bin/python -m pip install -q -e ".[test,bench]" 2>&1 | grep -v "^WARNING: Location" || true
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh serve [--host H --port P --workers N] | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
