#!/usr/bin/env bash
# Runs a command with a real OS keychain on a desktop-less machine: a private D-Bus session bus
# (dbus-run-session) with gnome-keyring's Secret Service, its login keyring unlocked and kept in a
# throwaway XDG_DATA_HOME. The keychain tests talk to it as they would to a desktop's keyring.
#
#   scripts/with-keyring.sh vitest run
#
# Exits with the command's exit code.
set -uo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: scripts/with-keyring.sh <command> [args...]" >&2
  exit 2
fi

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
  echo "with-keyring: dbus-run-session or gnome-keyring-daemon not found, so the keychain tests will fail; install them with: apt-get install gnome-keyring libsecret-tools dbus" >&2
  exec "$@"
fi

# The inner script runs on the new bus. The keyring's password only unlocks this throwaway keyring.
exec dbus-run-session -- bash -c '
  data_home=$(mktemp -d "${TMPDIR:-/tmp}/seed-mcp-keyring.XXXXXX")
  export XDG_DATA_HOME=$data_home
  eval "$(printf %s seed-mcp-test | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  "$@"
  rc=$?
  rm -rf "$data_home"
  exit "$rc"' with-keyring "$@"
