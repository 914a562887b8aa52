#!/usr/bin/env bash
# Makes sure a JDK (17 or newer) and Maven are on the PATH; installs Debian's packages when they are not.
# With --browser (scripts/test.sh passes it) also Debian's headless-capable Chromium and its driver, which the
# browser-contract test drives through Selenium (/usr/bin/chromium, /usr/bin/chromedriver; no driver downloads).
# Idempotent: when everything is present it only looks, in well under a second.
set -euo pipefail

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) echo "prereqs: unknown argument $arg (only --browser)" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

missing=()
if ! command -v javac >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  missing+=(openjdk-17-jdk-headless)
fi
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# The browser is installed without Recommends (no desktop extras); headless needs none of them.
browser_missing=()
if [ "$browser" -eq 1 ]; then
  [ -x /usr/bin/chromium ] || browser_missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || browser_missing+=(chromium-driver)
fi

if [ ${#missing[@]} -gt 0 ] || [ ${#browser_missing[@]} -gt 0 ]; then
  echo "prereqs: installing ${missing[*]} ${browser_missing[*]}"
  as_root apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ${#browser_missing[@]} -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${browser_missing[@]}" >/dev/null
fi
