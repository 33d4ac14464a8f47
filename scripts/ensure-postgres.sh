#!/usr/bin/env bash
# Makes sure the test PostgreSQL answers on 127.0.0.1:5432 with trust auth for local connections
# (docs: README "Quick start"). Run by scripts/test.sh; safe to run again.
# - answering already: nothing to do;
# - a Debian cluster exists but is stopped: start it (`pg_ctlcluster --skip-systemctl-redirect`, which
#   works without systemd, in containers and CI);
# - no PostgreSQL: install Debian's `postgresql`, then let loopback connections in without a password
#   (only on a cluster this script created: it is a throwaway test server).
# VIDMESH_TEST_DATABASE_URL set: that server is the caller's business; nothing is done.
set -euo pipefail

if [ -n "${VIDMESH_TEST_DATABASE_URL:-}" ]; then exit 0; fi

answering() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -h 127.0.0.1 -p 5432 -q
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

if answering; then exit 0; fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

created=0
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "ensure-postgres: installing PostgreSQL from the OS package manager"
  "${sudo_cmd[@]}" apt-get update -qq
  # policy-rc.d-less containers: the package's own start attempt may fail; the cluster is started below.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq postgresql >/dev/null
  created=1
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
if [ "$created" = 1 ]; then
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # First matching line wins: put trust for loopback TCP ahead of Debian's scram-sha-256 lines.
  if ! "${sudo_cmd[@]}" grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' |
      "${sudo_cmd[@]}" sh -c "cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
    "${sudo_cmd[@]}" chown postgres:postgres "$hba"
  fi
fi

if answering; then
  # Started by the package's install: pick up the pg_hba.conf lines above.
  "${sudo_cmd[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main reload
else
  echo "ensure-postgres: starting PostgreSQL $version (cluster main)"
  "${sudo_cmd[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for _ in $(seq 1 30); do
  if answering; then exit 0; fi
  sleep 1
done
echo "ensure-postgres: PostgreSQL does not answer on 127.0.0.1:5432" >&2
exit 1
