#!/bin/sh
# The learnloop container's entrypoint: on the first start, migrate the database, make the
# tenant and print its API key (once: later starts print none); then run the command.
# LEARNLOOP_INIT=0 skips that step (the worker: the API's container does it).
set -eu

if [ -z "${DATABASE_URL:-}" ]; then
    echo "learnloop: set DATABASE_URL to the PostgreSQL (with pgvector) to use" >&2
    exit 2
fi

if [ "${LEARNLOOP_INIT:-1}" != "0" ]; then
    tries=${LEARNLOOP_INIT_TRIES:-30}
    n=1
    until learnloop init --first-start; do
        if [ "$n" -ge "$tries" ]; then
            echo "learnloop: the database did not answer after $tries tries" >&2
            exit 1
        fi
        n=$((n + 1))
        sleep "${LEARNLOOP_INIT_WAIT:-2}"
    done
fi

exec "$@"
