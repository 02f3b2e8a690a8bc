#!/bin/sh
# Entrypoint of the Lambda container image (functions/Dockerfile.image); "$@" is the handler,
# e.g. functions.tiles.handler.handler (template.yaml: ImageConfig.Command).
#
# numba ignores a read-only cache directory without a word, and a Lambda image is read-only
# outside /tmp. The image holds a cache built at build time in /opt/numba-cache; on a cold start
# copy it once to NUMBA_CACHE_DIR (/tmp/numba-cache, set by template.yaml), then start the AWS
# Lambda runtime interface client. Outside Lambda (no AWS_LAMBDA_RUNTIME_API), run it under the
# runtime interface emulator if one is mounted at /usr/local/bin/aws-lambda-rie.
set -eu
SRC="${SARCUBE_NUMBA_CACHE_SRC:-/opt/numba-cache}"
DST="${NUMBA_CACHE_DIR:-}"
if [ -n "$DST" ] && [ "$DST" != "$SRC" ] && [ -d "$SRC" ] && [ ! -e "$DST/.sarcube-copied" ]; then
    mkdir -p "$DST"
    if cp -R "$SRC/." "$DST/"; then
        touch "$DST/.sarcube-copied"
    else
        echo "lambda-entrypoint: could not copy $SRC to $DST; numba compiles on first use" >&2
    fi
fi
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -x /usr/local/bin/aws-lambda-rie ]; then
    exec /usr/local/bin/aws-lambda-rie python -m awslambdaric "$@"
fi
exec python -m awslambdaric "$@"
