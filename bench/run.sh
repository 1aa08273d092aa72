#!/usr/bin/env bash
# run.sh runs the side-by-side benchmarks and writes RESULTS.md.
#
# It starts a loopback redis-server on a free port (stopped on exit), builds
# the suite, waits for the machine to be quiet (1-minute load below MAX_LOAD,
# polling every 30 s for up to WAIT_MINUTES), runs every benchmark with
# -benchmem -count COUNT -benchtime BENCHTIME, and turns the output into
# RESULTS.md with ./report. The raw output is kept in results.txt.
#
#   COUNT=5 BENCHTIME=300ms ./run.sh         # the committed run (a few minutes on 2 cores)
#   COUNT=1 BENCHTIME=20x BENCH=L1 ./run.sh  # a quick try of some cases
#
# Needs go and redis-server on PATH.
set -euo pipefail

cd "$(dirname "$0")"
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-300ms}
BENCH=${BENCH:-.}
MAX_LOAD=${MAX_LOAD:-1.0}
WAIT_MINUTES=${WAIT_MINUTES:-40}

work=$(mktemp -d)
redis_pid=""
sampler=""
cleanup() {
	if [[ -n $sampler ]]; then
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
	fi
	if [[ -n $redis_pid ]]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A free loopback port: one nothing answers on.
port=""
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 20000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[[ -n $port ]] || { echo "run.sh: no free port found" >&2; exit 1; }

redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	--logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 50); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -p "$port" ping >/dev/null
export REDIS_URL="redis://127.0.0.1:$port/0"
echo "run.sh: redis-server $redis_pid on $REDIS_URL"

go test -c -o "$work/bench.test" .

# Wait for a quiet machine; run anyway after WAIT_MINUTES, and say so.
waited=0
while awk -v max="$MAX_LOAD" '{ exit !($1 >= max) }' /proc/loadavg; do
	if ((waited >= WAIT_MINUTES * 60)); then
		echo "run.sh: load still $(cut -d' ' -f1 /proc/loadavg) after $WAIT_MINUTES min; running anyway" >&2
		break
	fi
	echo "run.sh: load $(cut -d' ' -f1-3 /proc/loadavg), waiting for < $MAX_LOAD" >&2
	sleep 30
	waited=$((waited + 30))
done

cmd="go test -run '^\$' -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME (with REDIS_URL on a loopback redis-server)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# top's first sample counts since boot; its second is the last second.
cpu_before=$(top -bn2 -d1 | grep '^%Cpu' | tail -1 | tr -s ' ')
# Sample the 1-minute load every 10 s while the suite runs.
(while :; do cut -d' ' -f1 /proc/loadavg >>"$work/load.txt"; sleep 10; done) &
sampler=$!
start=$(date +%s)
"$work/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem \
	-test.count "$COUNT" -test.benchtime "$BENCHTIME" -test.timeout 60m \
	>"$work/results.txt" 2>"$work/stderr.txt" || {
	cat "$work/results.txt" "$work/stderr.txt" >&2
	exit 1
}
elapsed=$(($(date +%s) - start))
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
load_during=$(sort -g "$work/load.txt" | awk '{ v[NR] = $1 } END { printf "median %s, max %s over %d samples", v[int((NR + 1) / 2)], v[NR], NR }')
cp "$work/results.txt" results.txt

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); suite ran for ${elapsed} s"
	echo "nproc: $(nproc); GOMAXPROCS: ${GOMAXPROCS:-$(nproc)} (default)"
	echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "$(go version); $(redis-server --version | cut -d' ' -f1-3)"
	dirty=$(git -C .. status --porcelain -- '*.go' ':(exclude)bench' ':(exclude)*_test.go' 2>/dev/null | wc -l)
	echo "library commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$( ((dirty == 0)) || echo " plus uncommitted changes to $dirty non-test Go files")"
	echo "load average (1, 5, 15 min): before the run $load_before, after $load_after; 1-min load during the run: $load_during (this counts the suite itself, which keeps up to both cores busy; the cores are shared with other work)"
	echo "CPU use in the second before the run (top): $cpu_before"
	echo "\`-benchtime $BENCHTIME -count $COUNT\`; Redis on loopback, its own server for the run"
} >"$work/machine.txt"

go run ./report -in results.txt -machine "$work/machine.txt" -cmd "$cmd" >RESULTS.md
echo "run.sh: wrote $(pwd)/RESULTS.md and results.txt (${elapsed} s)"
