#!/usr/bin/env bash
# Instructions per page of one of decode_bench.py's sides, counted by callgrind: three listings
# of 100 pages minus one, so start-up and imports cancel out. Noise-free where CPU time is not.
#   bash benchmarks/instructions_per_page.sh typed contacts            # this checkout
#   bash benchmarks/instructions_per_page.sh typed work_items ../old    # another checkout's SDK
# Sides: plain, orjson, msgspec, read, split, split_write, typed, raw, json, exporter. Needs
# valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
side=$1 resource=$2 sdk=${3:-.}
py=.venv/bin/python
client=$(mktemp --suffix .py)
server_pid=
trap 'rm -f "$client" callgrind.out.ipp.*; kill "$server_pid" 2>/dev/null || true' EXIT
cat >"$client" <<'PY'
import asyncio, sys
sys.path.insert(0, "benchmarks")
import decode_bench
base, side, resource, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
async def main() -> None:
    for _ in range(repeats):
        await decode_bench.SIDES[side](base, resource)
asyncio.run(main())
PY
coproc server { exec "$py" benchmarks/decode_bench.py --serve --pages 100; }
server_pid=$server_PID
read -r line <&"${server[0]}"
base=$(echo "$line" | "$py" -c "import json, sys; print(json.load(sys.stdin)['base_url'])")
count() {
    PYTHONPATH="$sdk" valgrind --tool=callgrind --callgrind-out-file="callgrind.out.ipp.$1" \
        "$py" "$client" "$base" "$side" "$resource" "$1" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
one=$(count 1)
three=$(count 3)
echo "$side $resource ($sdk): $(( (three - one) / 200 )) instructions a page"
