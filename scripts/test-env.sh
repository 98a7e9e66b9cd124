#!/usr/bin/env bash
# Installs and starts what the test suite needs. Safe to run again: it only does what is missing.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v nats-server >/dev/null || need+=(nats-server)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v clang >/dev/null || need+=(clang lld)
[ -e /usr/include/wasm32-wasi ] || need+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/14*/lib/wasi >/dev/null 2>&1 || need+=(libclang-rt-14-dev-wasm32)
[ -x /bin/busybox ] || need+=(busybox-static)
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd" >&2
  mkdir -p /var/log
  nohup dockerd >/var/log/bacalao-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/bacalao-dockerd.log" >&2; exit 1; }
fi
