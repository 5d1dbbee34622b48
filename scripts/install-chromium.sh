#!/usr/bin/env bash
# install-chromium.sh — Debian's Chromium for the browser test of the
# sign-in page (examples/web).
#
#   scripts/install-chromium.sh
#
# Does nothing when /usr/bin/chromium exists; otherwise installs the
# `chromium` package with apt-get (as root, or through `sudo -n`). Quiet:
# apt's output goes to a log file that is printed only when it fails.
# Prints nothing on success.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "install-chromium: /usr/bin/chromium is missing and installing it needs root" >&2
		exit 1
	fi
	sudo="sudo -n"
fi

log=$(mktemp /tmp/install-chromium.XXXXXX.log)
trap 'rm -f "$log"' EXIT
if ! {
	$sudo apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium
} >"$log" 2>&1; then
	echo "install-chromium: apt-get install chromium failed:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi
[ -x /usr/bin/chromium ] || {
	echo "install-chromium: installed, but /usr/bin/chromium is still missing" >&2
	exit 1
}
