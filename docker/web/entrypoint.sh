#!/bin/sh
# The web image's entry point. Without arguments: wait for the database, then serve with
# gunicorn (settings from /app/gunicorn.conf.py: gthread workers; it refuses to start without
# REDIS_URL). With arguments, run them instead: compose's `migrate` job passes
# `python manage.py migrate --no-input`. Migrations never run here.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

python manage.py wait_for_database --timeout 60
exec gunicorn --bind 0.0.0.0:8000
