#!/usr/bin/env bash
# Make sure what the tests talk to is there: PostgreSQL on 127.0.0.1:5432, and Debian's
# Chromium for the dashboard's browser tests. Starts/installs them when missing; fails
# loudly when it cannot.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  echo "Chromium is missing (the dashboard's browser tests need it); installing it" >&2
  if command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium >/dev/null 2>&1 || {
      apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1
    } || echo "WARNING: could not install chromium (apt-get install -y chromium)" >&2
  fi
fi

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && exit 0
  sleep 1
done
echo "ERROR: PostgreSQL did not start; the store tests need it on 127.0.0.1:5432" >&2
echo "  start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
exit 1
