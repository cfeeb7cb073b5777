# Sourced by CI before the assignment-3 tests: provides a loopback PostgreSQL server and headless Chromium.
#
#   source .ci/setup-scaling.sh
#
# Installs Debian `postgresql`, `chromium` and `chromium-driver` when missing (needs root and apt), starts a
# throwaway PostgreSQL cluster on 127.0.0.1 as the postgres user in a temp dir, creates a database, and exports
#   CS336_TEST_POSTGRES_URL  postgresql://postgres@127.0.0.1:PORT/cs336_test
#   CS336_CHROMIUM           path of the chromium binary
#   CS336_CHROMEDRIVER       path of chromedriver
# Idempotent: a second source reuses the running cluster. Failures only leave the variables unset, so the
# PostgreSQL and browser tests skip with a reason instead of failing the whole run. Safe under `set -euo pipefail`
# (the CI runner sources it with those options): every command that may fail is guarded.

_cs336_setup_scaling() {
  local need=()
  local as_pg=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup-scaling: installing ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
        || echo "setup-scaling: apt-get install ${need[*]} failed" >&2
    else
      echo "setup-scaling: missing ${need[*]} and cannot apt-get (not root)" >&2
    fi
  fi

  if command -v chromium >/dev/null 2>&1; then export CS336_CHROMIUM="$(command -v chromium)"; fi
  if command -v chromedriver >/dev/null 2>&1; then export CS336_CHROMEDRIVER="$(command -v chromedriver)"; fi

  local bindir
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "setup-scaling: no PostgreSQL binaries; PostgreSQL tests will skip" >&2
    return 0
  fi
  local root=/tmp/cs336-scaling-pg port=55432
  local pgdata=$root/data
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >/dev/null 2>&1 || true
    as_pg=("$(command -v runuser || echo /usr/sbin/runuser)" -u postgres --)
  fi
  # Reuse a server that is already up (its postmaster.pid names a live process); otherwise start from scratch.
  local pid=""
  [ -f "$pgdata/postmaster.pid" ] && pid="$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -rf "$root"
    mkdir -p "$root"
    if [ "$(id -u)" = "0" ]; then chown postgres "$root" || true; fi
    "${as_pg[@]}" "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >"$root/initdb.log" 2>&1 \
      || { echo "setup-scaling: initdb failed (see $root/initdb.log)" >&2; return 0; }
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdata" -l "$root/server.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $port -k $root -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start \
      >/dev/null 2>&1 || { echo "setup-scaling: PostgreSQL did not start (see $root/server.log)" >&2; return 0; }
  fi
  "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='cs336_test'" 2>/dev/null | grep -q 1 \
    || "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE cs336_test" >/dev/null 2>&1 \
    || { echo "setup-scaling: cannot create database cs336_test" >&2; return 0; }
  export CS336_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/cs336_test"
  echo "setup-scaling: CS336_TEST_POSTGRES_URL=$CS336_TEST_POSTGRES_URL CS336_CHROMIUM=${CS336_CHROMIUM:-}"
}
_cs336_setup_scaling
unset -f _cs336_setup_scaling
