#!/bin/sh
# A consumer's health check: logs in to PostgreSQL with the credentials its env file holds
# (DB_USER and DB_PASSWORD, or a DATABASE_URL postgres://USER:PASSWORD@…) and reads the
# application's table. The password reaches psql through its environment, never its argv.
#   pg_login.sh ENV_FILE HOST PORT DATABASE
set -eu
set -a
. "$1"
set +a
if [ -z "${DB_USER:-}" ] && [ -n "${DATABASE_URL:-}" ]; then
  DB_USER=$(python3 -c 'import os, urllib.parse; print(urllib.parse.urlsplit(os.environ["DATABASE_URL"]).username)')
  DB_PASSWORD=$(python3 -c 'import os, urllib.parse; print(urllib.parse.urlsplit(os.environ["DATABASE_URL"]).password)')
fi
PGPASSWORD=$DB_PASSWORD exec psql -X -q -At -w -h "$2" -p "$3" -U "$DB_USER" -d "$4" -c "SELECT count(*) FROM orders" >/dev/null
