#!/usr/bin/env bash
# Runs every test of edge. It first installs what the tests talk to, from
# Debian, when it is missing: nginx (the reference of the differential
# tests), curl, openssl, htpasswd, and Django under Gunicorn (the
# deployment of integration/django). Set CI=true to make a test whose peer is
# missing fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v gunicorn >/dev/null || need+=(gunicorn)
/usr/bin/python3 -c 'import django' 2>/dev/null || need+=(python3-django)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ${need[*]} from Debian" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

go mod download
test -z "$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
go vet ./...
go test -race -count=1 $(go list ./... | grep -v /integration/corpus)
# The corpus run prints its per-directive tally of what edge refuses.
go test -count=1 -v ./integration/corpus | grep -v '^=== RUN'
# A short fuzzing run; longer ones: go test -fuzz FuzzParse -fuzztime 10m ./parser
go test -run '^$' -fuzz FuzzParse -fuzztime "${FUZZTIME:-20s}" ./parser
go test -run '^$' -fuzz FuzzHead -fuzztime "${FUZZTIME:-10s}" ./server
