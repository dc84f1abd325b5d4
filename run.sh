#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./run.sh serve   install into .venv (first time, or when pyproject.toml changed) and run the gateway
#   ./run.sh test    install everything the tests need (Chromium from Debian too) and run the whole suite
set -euo pipefail
cd "$(dirname "$0")"

# install EXTRAS into .venv unless the same pyproject.toml was already installed with them (a stamp per extras)
install_once() {
  local extras="$1" stamp hash
  hash="$(sha256sum pyproject.toml | cut -c1-16)"
  stamp=".venv/.installed-${extras:-base}-${hash}"
  [ -f "$stamp" ] && return 0
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  echo "installing into .venv (once; again only when pyproject.toml changes)..." >&2
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import gateway.cli" # fails loudly if the install did not work
  rm -f .venv/.installed-"${extras:-base}"-*
  touch "$stamp"
}

# true when a Japanese font is installed (grep -q stops reading early: under pipefail fc-list's SIGPIPE would count)
has_ja_font() {
  fc-list 2>/dev/null | grep -i ipa >/dev/null
}

case "${1:-}" in
  serve)
    shift
    install_once ""
    exec .venv/bin/voice-gateway serve "$@"
    ;;
  test)
    shift
    if ! command -v chromium >/dev/null 2>&1 || ! command -v pg_virtualenv >/dev/null 2>&1 \
      || ! command -v redis-server >/dev/null 2>&1 || ! has_ja_font; then
      # headless Chromium for the browser tests, a Japanese font so screenshots show the page's text,
      # a PostgreSQL server for the store's PostgreSQL test, and Redis for the shared hub's tests
      SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-ipafont-gothic postgresql redis-server >/dev/null
    fi
    install_once "test,bench,granian"
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh serve [--host H --port P --workers N] | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
