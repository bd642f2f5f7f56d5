#!/usr/bin/env bash
# Install the Debian packages Poststelle's tests and tools need; quick when all are present.
#   swaks           an SMTP client for trying and testing intake (libnet-ssleay-perl: its TLS)
#   chromium        the browser the web UI tests drive through Playwright
#   poppler-utils   pdftoppm/pdftotext, to look at rendered PDFs
#   clamav-daemon   clamd, the malware scanner stage (tests run it with their own database)
#   postfix         smtp-source and a Postfix to compare intake speed with (benchmarks)
#   openssl, fonts-dejavu-core, nodejs/npm (axe-core for accessibility checks)
set -euo pipefail

packages=(swaks libnet-ssleay-perl chromium poppler-utils clamav-daemon postfix openssl fonts-dejavu-core)
command -v redis-server >/dev/null || packages+=(redis-server)
command -v pg_ctlcluster >/dev/null || packages+=(postgresql)
command -v npm >/dev/null || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Postfix must not configure itself as the machine's mail server nor take port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# No signature downloads work here, and clamd/freshclam must not run as services.
for service in clamav-freshclam clamav-daemon postfix; do
    if command -v systemctl >/dev/null && systemctl is-enabled "$service" >/dev/null 2>&1; then
        systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
    service "$service" stop >/dev/null 2>&1 || true
done
