#!/bin/bash
# First start of PostgreSQL (run by the image's entrypoint only when it initialises an empty
# data directory): creates Medusa's own database user and its database, owned by that user, so
# Medusa never connects as the superuser. The password reaches psql through \getenv from the
# environment (the credentials Secret), never on a command line.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv app_user MEDUSA_DB_USER
\getenv app_password MEDUSA_DB_PASSWORD
\getenv app_db MEDUSA_DB_NAME
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
SQL
