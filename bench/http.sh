#!/usr/bin/env bash
# http.sh measures the example server's product route with wrk against four
# peers doing the same job, and prints a table of medians with the ratios to
# the peers against their targets: example ÷ floorlog ≥ 0.95 and example ÷
# ceiling ≥ 0.75 (the settled targets; issue 10 had ÷ ceiling ≥ 0.70), and
# issue 10's example ÷ floor ≥ 0.90 and example ÷ node ≥ 3. HTTP.md has the
# figures of the committed runs and what they mean.
#
#   bench/http.sh                          # 5 rounds × 5 servers × 8 s: about 4 minutes
#   DURATION=5s ROUNDS=1 bench/http.sh     # a quick try
#   SERVERS="example floorlog ceiling" bench/http.sh
#                                          # only these (and without node, no npm)
#   PROFILE=/tmp/cpu.prof bench/http.sh    # also a CPU profile of the example server under
#                                          # the same load, in an extra run not counted
#   BEFORE=HEAD~1 bench/http.sh            # also the example server of another commit
#                                          # ("before"), interleaved with the others; with
#                                          # PROFILE, its profile goes to $PROFILE.before
#                                          # (that commit must serve /debug/pprof/)
#   BEFORE=HEAD~1 TOGETHER="example before" bench/http.sh
#                                          # then also ROUNDS runs of the two under wrk at
#                                          # the same time, on one CPU: the ratio of their CPU
#                                          # time per answer, steadier than from the rounds
#
# The servers, all on loopback, all calling one downstream and one Redis:
#   example  the example server as shipped (go build ./example/server): its
#            default flags, access log on (to a file), REDIS_URL set to the
#            redis-server below, -downstream set to the downstream below;
#   floor    bench/httpd -role floor: chi with RequestID, ClientIPFromRemoteAddr,
#            Recoverer and a context.WithValue middleware, a sync.Map of answer
#            bodies in place of the library, no access log;
#   floorlog bench/httpd -role floorlog: the floor plus the example's access
#            log, in the example's place among the middleware: the same line
#            per request (slog's text format, the same fields), buffered the
#            same way (64 KiB, flushed every 100 ms), to stderr, which is a
#            file as the example's; the floor doing the example's logging work;
#   ceiling  bench/httpd -role ceiling: a bare net/http handler writing one
#            fixed product;
#   node     alova 3.5.5 on Node (bench/node/server.js): L1 lru-cache, L2
#            Redis through ioredis, both for 5 minutes (alova's restore mode).
#            Its package.json and server.js are copied to a temporary
#            directory and npm-installed there, never in the repository.
# plus a redis-server on a free port (no persistence) and the downstream
# (bench/httpd -role downstream, GET /products/{id}).
#
# Each server is warmed with IDS product ids (one request each, checked to
# answer 200), then, in ROUNDS rounds, wrk -t1 -c$CONNS -d$DURATION runs
# against each with bench/wrk/products.lua, which cycles over the IDS ids.
# Rounds interleave the servers (each round starts one server later, so no
# server always runs first) and the table shows per-server medians: the
# machine is shared and noisy. Before the first round the script waits up to
# WAIT_MINUTES (5) for the 1-minute load average to fall below MAX_LOAD
# (1.0), then measures anyway, saying so. Each row also shows the server's CPU use
# during its runs (100% = one core) and the 1-minute load average before them.
#
# PIN=1 (the default) pins wrk to CPU 0 and each server to CPU 1 (taskset), so
# that they do not fight over the cores: a Go server then runs with
# GOMAXPROCS=1, as Node runs its JavaScript on one thread. PIN=0 leaves both
# to the scheduler.
#
# The warm-up comes right before the first round. The example server's cache
# TTL is 5 minutes with refresh-ahead in the last fifth: from 4 minutes after
# the warm-up on, every product read makes it refresh that product in the
# background, and all 1,000 at once, which costs it half its CPU (see
# PROFILE.md). The script warns when the rounds (DURATION × ROUNDS × servers,
# plus the profiles) would pass 200 s; the defaults (5 × 5 × 8 s) take 200 s.
#
# Everything started is stopped on exit. At the end the example server and
# floorlog are stopped with SIGTERM and the access log of each is checked to
# hold a line for every answer wrk and the warm-up counted (it may hold a few
# more: requests wrk cut at the end of a run).
#
# Needs go, wrk, curl, redis-server, redis-cli, taskset on PATH, and for the
# node server node and npm (and the npm registry); Linux (CPU use is read
# from /proc).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
DURATION=${DURATION:-8s} # in seconds, with the s
[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "http.sh: DURATION=$DURATION: give it in seconds, e.g. 10s" >&2; exit 1; }
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
IDS=${IDS:-1000}
PIN=${PIN:-1}
SERVERS=${SERVERS:-example floor floorlog ceiling node}
PROFILE=${PROFILE:-}
BEFORE=${BEFORE:-}
TOGETHER=${TOGETHER:-}
[[ -z $BEFORE ]] || SERVERS="$SERVERS before"
MAX_LOAD=${MAX_LOAD:-1.0}
WAIT_MINUTES=${WAIT_MINUTES:-5}

work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { echo "http.sh: $*" >&2; }

# freeport sets fp to a loopback port nothing answers on and not handed out
# before (the servers bind theirs later). It picks from 20000–32767, below
# Linux's ephemeral range (32768–60999 by default), whose ports outgoing
# connections take without listening: the probe does not see those, and a
# server could not bind one.
taken=" "
freeport() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12768))
		if [[ $taken != *" $p "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken+="$p "
			fp=$p
			return
		fi
	done
	say "no free port found"
	exit 1
}

# waitport waits up to 20 s for something to listen on port $1.
waitport() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		sleep 0.1
	done
	say "nothing listens on port $1; the logs:"
	tail -n 5 "$work"/*.log >&2 || true
	exit 1
}

if [[ $PIN == 1 ]]; then
	srvpin=(taskset -c 1)
	wrkpin=(taskset -c 0)
else
	srvpin=()
	wrkpin=()
fi

say "building"
go build -o "$work/example" ./example/server
if [[ -n $BEFORE ]]; then
	mkdir "$work/src-before"
	git archive "$BEFORE" | tar -x -C "$work/src-before"
	(cd "$work/src-before" && go build -o "$work/before" ./example/server)
	BEFORE="$BEFORE ($(git rev-parse --short "$BEFORE"))"
fi
(cd bench && go build -o "$work/httpd" ./httpd)
mkdir "$work/node"
cp bench/node/package.json bench/node/server.js "$work/node/"
if [[ " $SERVERS " == *" node "* ]]; then
	say "npm install in $work/node"
	(cd "$work/node" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

freeport
redis_port=$fp
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 50); do
	redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null
redis_url="redis://127.0.0.1:$redis_port/0"

freeport
down_port=$fp
"$work/httpd" -role downstream -addr "127.0.0.1:$down_port" 2>"$work/downstream.log" &
pids+=($!)
waitport "$down_port"
downstream="http://127.0.0.1:$down_port"

declare -A port pid
for s in $SERVERS; do
	freeport
	port[$s]=$fp
	case $s in
	example)
		REDIS_URL=$redis_url "${srvpin[@]}" "$work/example" -addr "127.0.0.1:${port[$s]}" \
			-downstream "$downstream" 2>"$work/example.log" &
		;;
	before) # its own Redis keys: it must not find the example's products in L2
		REDIS_URL=$redis_url "${srvpin[@]}" "$work/before" -addr "127.0.0.1:${port[$s]}" \
			-downstream "$downstream" -key-prefix alova-before: 2>"$work/before.log" &
		;;
	floor | floorlog | ceiling) # floorlog's access log is its stderr, as the example's
		"${srvpin[@]}" "$work/httpd" -role "$s" -addr "127.0.0.1:${port[$s]}" \
			-downstream "$downstream" 2>"$work/$s.log" &
		;;
	node)
		(cd "$work/node" && PORT=${port[$s]} REDIS_URL=$redis_url DOWNSTREAM=$downstream \
			exec "${srvpin[@]}" node server.js 2>"$work/node.log") &
		;;
	*)
		say "unknown server $s"
		exit 1
		;;
	esac
	pid[$s]=$!
	pids+=($!)
done
for s in $SERVERS; do
	waitport "${port[$s]}"
done

# Wait for a quiet machine: other work on the two cores moves every figure.
waited=0
while awk -v m="$MAX_LOAD" '{exit !($1 >= m)}' /proc/loadavg; do
	if ((waited >= WAIT_MINUTES * 60)); then
		say "load still $(cut -d' ' -f1 /proc/loadavg) after $WAIT_MINUTES min; measuring anyway"
		break
	fi
	((waited == 0)) && say "waiting for the 1-minute load ($(cut -d' ' -f1 /proc/loadavg)) to fall below $MAX_LOAD (up to $WAIT_MINUTES min)"
	sleep 15
	waited=$((waited + 15))
done

# Warm-up: each id once, 16 at a time; every answer must be 200.
declare -A answered
for s in $SERVERS; do
	cfg="$work/warm-$s.curl"
	for i in $(seq "$IDS"); do
		printf 'url = "http://127.0.0.1:%s/api/products/%s"\noutput = "/dev/null"\n' "${port[$s]}" "$i"
	done >"$cfg"
	ok=$(curl -sS --no-progress-meter --parallel --parallel-max 16 -w '%{http_code}\n' -K "$cfg" | grep -c '^200$' || true)
	if [[ $ok != "$IDS" ]]; then
		say "$s: warm-up answered $ok of $IDS with 200"
		exit 1
	fi
	answered[$s]=$IDS
done
if [[ -n ${port[example]:-} ]]; then
	xcache=$(curl -sS -o /dev/null -D - "http://127.0.0.1:${port[example]}/api/products/1" | tr -d '\r' |
		awk -F': ' 'tolower($1)=="x-cache"{print $2}')
	answered[example]=$((answered[example] + 1))
	if [[ $xcache != L1 ]]; then
		say "example: a warm product answered X-Cache: $xcache, want L1"
		exit 1
	fi
fi
say "warmed $IDS ids on: $SERVERS"

# cputicks prints the user+system clock ticks process $1 has used.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# measure runs wrk once against server $1 and appends a line to results.
measure() {
	local s=$1 round=$2 load t0 c0 c1 t1 out line
	load=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cputicks "${pid[$s]}")
	t0=$(date +%s%N)
	out=$(IDS=$IDS "${wrkpin[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" -s bench/wrk/products.lua \
		"http://127.0.0.1:${port[$s]}")
	t1=$(date +%s%N)
	c1=$(cputicks "${pid[$s]}")
	line=$(grep '^RESULT ' <<<"$out") || { say "$s: wrk printed no RESULT:"; echo "$out" >&2; exit 1; }
	# RESULT requests=… duration_us=… p50_us=… p99_us=… non2xx=… socket_errors=…
	read -r req dur p50 p99 non2xx sockerr < <(sed 's/[a-z0-9_]*=//g; s/^RESULT //' <<<"$line")
	answered[$s]=$((answered[$s] + req))
	cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')
	rps=$(awk -v r="$req" -v d="$dur" 'BEGIN{printf "%.0f", r / (d / 1e6)}')
	# CPU time the server spent per answer, in µs: unlike req/s, it does
	# not fall when other processes take the server's core away.
	cpr=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$req" 'BEGIN{printf "%.1f", 1e6 * c / hz / r}')
	echo "$round $s $rps $p50 $p99 $non2xx $sockerr $cpu $load $cpr" >>"$work/results"
	printf 'round %s %-8s %7d req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %d  socket errors %d  server CPU %3d%% %6.1f µs/req  load %s\n' \
		"$round" "$s" "$rps" "$(awk -v v="$p50" 'BEGIN{print v/1000}')" "$(awk -v v="$p99" 'BEGIN{print v/1000}')" \
		"$non2xx" "$sockerr" "$cpu" "$cpr" "$load"
}

read -ra order <<<"$SERVERS"
n=${#order[@]}
runs=$((ROUNDS * n))
if [[ -n $PROFILE ]]; then
	runs=$((runs + 1))
	[[ -z $BEFORE ]] || runs=$((runs + 1))
fi
planned=$((runs * ${DURATION%s}))
((planned <= 200)) || say "warning: the rounds take ${planned} s; about 240 s after its warm-up (which comes before the other servers') the example server starts refreshing its products ahead of expiry while measured"
echo "wrk -t1 -c$CONNS -d$DURATION, $IDS ids, $ROUNDS rounds, PIN=$PIN ($(nproc) CPUs); $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty)')${BEFORE:+; before = example server of $BEFORE}"
for round in $(seq "$ROUNDS"); do
	for k in $(seq 0 $((n - 1))); do
		measure "${order[$(((k + round - 1) % n))]}" "$round"
	done
done

# profile takes a CPU profile of server $1 into $2 during one more run, not
# counted.
profile() {
	local s=$1 out=$2 secs prof
	secs=$((${DURATION%s} - 2))
	((secs >= 1)) || secs=1
	say "profiling $s for $secs s under the same load (not counted)"
	curl -sS -o "$out" "http://127.0.0.1:${port[$s]}/debug/pprof/profile?seconds=$secs" &
	prof=$!
	sleep 0.5
	measure "$s" profile
	wait "$prof"
	answered[$s]=$((answered[$s] + 1)) # the profile request
	sed -i '/^profile /d' "$work/results"
	say "CPU profile of $s in $out; read it with go tool pprof -top <binary> $out (the binary: go build ./example/server at that commit)"
}
if [[ -n $PROFILE && -n ${port[example]:-} ]]; then
	profile example "$PROFILE"
	[[ -z ${port[before]:-} ]] || profile before "$PROFILE.before"
fi

# Table of medians.
median() { sort -n | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
declare -A med
echo
printf '%-8s %9s %9s %9s %9s %9s %11s %9s\n' server "req/s" "p50 ms" "p99 ms" "÷ceiling" "CPU %" "CPU µs/req" "load"
for s in $SERVERS; do
	for col in 3 4 5 8 9 10; do
		med[$s,$col]=$(awk -v s="$s" -v c=$col '$2==s{print $c}' "$work/results" | median)
	done
done
for s in $SERVERS; do
	ratio=-
	[[ -n ${med[ceiling,3]:-} ]] && ratio=$(awk -v a="${med[$s,3]}" -v b="${med[ceiling,3]}" 'BEGIN{printf "%.2f", a/b}')
	printf '%-8s %9s %9.2f %9.2f %9s %9s %11s %9s\n' "$s" "${med[$s,3]}" \
		"$(awk -v v="${med[$s,4]}" 'BEGIN{print v/1000}')" "$(awk -v v="${med[$s,5]}" 'BEGIN{print v/1000}')" \
		"$ratio" "${med[$s,8]}" "${med[$s,10]}" "${med[$s,9]}"
done
if [[ -n ${med[example,3]:-} ]]; then
	echo
	# The settled targets first, then issue 10's for the floor and Node.
	for peer in floorlog ceiling floor node; do
		want=$(case $peer in floorlog) echo 0.95 ;; ceiling) echo 0.75 ;; floor) echo "0.90 (issue 10)" ;; node) echo "3.00 (issue 10)" ;; esac)
		[[ -n ${med[$peer,3]:-} ]] || continue
		awk -v a="${med[example,3]}" -v b="${med[$peer,3]}" -v p="$peer" -v w="$want" \
			'BEGIN{r=a/b; printf "example ÷ %-8s = %.2f (target ≥ %s: %s)", p, r, w, (r >= w + 0 ? "met" : "MISSED")}'
		# The same ratio from CPU time per answer (peer's ÷ example's).
		awk -v a="${med[example,10]}" -v b="${med[$peer,10]}" 'BEGIN{printf "; by CPU µs/req %.2f\n", b/a}'
	done
fi
# TOGETHER: two servers under wrk at the same time, both on the same CPU (with
# PIN=1), so that whatever else the machine does slows both alike: their
# ratio of CPU time per answer is steadier than one taken from runs made one
# after the other.
if [[ -n $TOGETHER ]]; then
	read -r ta tb <<<"$TOGETHER"
	if [[ -z ${port[$ta]:-} || -z ${port[$tb]:-} || $ta == "$tb" ]]; then
		say "TOGETHER=\"$TOGETHER\": name two different servers of SERVERS"
		exit 1
	fi
	echo
	echo "together: $ta and $tb under wrk at the same time, $ROUNDS rounds of $DURATION"
	: >"$work/together"
	for round in $(seq "$ROUNDS"); do
		ca0=$(cputicks "${pid[$ta]}")
		cb0=$(cputicks "${pid[$tb]}")
		IDS=$IDS "${wrkpin[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" -s bench/wrk/products.lua \
			"http://127.0.0.1:${port[$ta]}" >"$work/together-a.out" &
		wa=$!
		IDS=$IDS "${wrkpin[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" -s bench/wrk/products.lua \
			"http://127.0.0.1:${port[$tb]}" >"$work/together-b.out"
		wait "$wa"
		ca1=$(cputicks "${pid[$ta]}")
		cb1=$(cputicks "${pid[$tb]}")
		ra=$(sed -n 's/^RESULT requests=\([0-9]*\) .*/\1/p' "$work/together-a.out")
		rb=$(sed -n 's/^RESULT requests=\([0-9]*\) .*/\1/p' "$work/together-b.out")
		if [[ -z $ra || -z $rb || $ra == 0 || $rb == 0 ]]; then
			say "together: wrk printed no RESULT"
			cat "$work/together-a.out" "$work/together-b.out" >&2
			exit 1
		fi
		answered[$ta]=$((answered[$ta] + ra))
		answered[$tb]=$((answered[$tb] + rb))
		awk -v a="$ta" -v b="$tb" -v ra="$ra" -v rb="$rb" -v ca=$((ca1 - ca0)) -v cb=$((cb1 - cb0)) -v hz="$hz" \
			-v d="${DURATION%s}" -v r="$round" -v out="$work/together" 'BEGIN{
				ua = 1e6 * ca / hz / ra; ub = 1e6 * cb / hz / rb
				printf "round %s  %-8s %7.0f req/s %6.1f µs/req   %-8s %7.0f req/s %6.1f µs/req   %s ÷ %s CPU per answer %.3f\n",
					r, a, ra / d, ua, b, rb / d, ub, a, b, ua / ub
				printf "%.4f\n", ua / ub >> out
			}'
	done
	printf 'median %s ÷ %s CPU per answer: %.3f\n' "$ta" "$tb" "$(median <"$work/together")"
fi
errors=$(awk '$6 + $7 > 0' "$work/results")
[[ -z $errors ]] || { say "runs with non-2xx answers or socket errors:"; echo "$errors" >&2; }

# Stop the servers that log gracefully and check their access logs.
echo
for s in example floorlog; do
	[[ -n ${pid[$s]:-} ]] || continue
	kill -TERM "${pid[$s]}"
	wait "${pid[$s]}" || true
	logged=$(grep -c 'msg=request ' "$work/$s.log" || true)
	echo "$s access log: $logged request lines for ${answered[$s]} answers counted ($(du -h "$work/$s.log" | cut -f1))"
	if ((logged < answered[$s])); then
		say "$s: the access log lost lines"
		exit 1
	fi
done
