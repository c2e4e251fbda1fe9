#!/usr/bin/env bash
# Local infrastructure for development and tests, without Docker: a single-node Apache Kafka broker
# (KRaft, broker + controller in one JVM, jars from Maven Central) and a Redis server.
#
#   bash infra/local.sh start    # idempotent: starts what is missing, reuses what already answers
#   bash infra/local.sh stop     # stops only what this script started (pid files), SIGTERM then SIGKILL
#   bash infra/local.sh status   # what runs and who started it; exit 0 when both answer, 3 otherwise
#
# Environment knobs:
#   KAFKA_PORT              client port of the local broker, on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT   KRaft controller port of the local broker (default 9093)
#   KAFKA_BROKERS           bootstrap list clients use (default 127.0.0.1:$KAFKA_PORT); if it names
#                           another broker, start only checks that it answers and never starts one
#   KAFKA_START_TIMEOUT     seconds to wait for the broker to answer (default 60)
#   KAFKA_HEAP_OPTS         JVM heap flags of the broker (default "-Xms256m -Xmx512m")
#   REDIS_URL               Redis to use (default redis://127.0.0.1:6379); started here only when it
#                           does not answer, points at this machine, and redis-server is installed
#   EDGEGUARD_INFRA_DIR     where run state lives: configs, pid files, logs, Kafka data
#                           (default infra/run in the repository; `rm -rf` it to start from scratch)
#
# Requires: bash, Java 11+ (17 recommended), Maven 3.6.3+ on first start (fetches ~46 MB of jars into
# infra/kafka/target/libs, cached in ~/.m2), Node.js with the repo's node_modules (kafkajs and ioredis
# answer the readiness checks), redis-server/redis-cli unless a Redis already answers.
# infra/ensure-packages.sh installs the Debian packages for these when they are missing.
set -euo pipefail

INFRA_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${EDGEGUARD_INFRA_DIR:-$INFRA_HOME/run}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
LOCAL_BROKER="127.0.0.1:$KAFKA_PORT"
KAFKA_BROKERS="${KAFKA_BROKERS:-$LOCAL_BROKER}"
# localhost:<port> names the same broker as 127.0.0.1:<port> (the only address it listens on).
[[ "$KAFKA_BROKERS" == "localhost:$KAFKA_PORT" ]] && KAFKA_BROKERS="$LOCAL_BROKER"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

KAFKA_POM="$INFRA_HOME/kafka/pom.xml"
KAFKA_LIBS="$INFRA_HOME/kafka/target/libs"
KAFKA_LOG4J="$INFRA_HOME/kafka/log4j.properties"
# One source of truth for the version: the POM that fetches it.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_RUN="$RUN_DIR/kafka"
KAFKA_PID_FILE="$KAFKA_RUN/kafka.pid"
KAFKA_LOG_FILE="$KAFKA_RUN/kafka.log"
KAFKA_PROPERTIES="$KAFKA_RUN/server.properties"
KAFKA_DATA="$KAFKA_RUN/data"
REDIS_RUN="$RUN_DIR/redis"
REDIS_PID_FILE="$REDIS_RUN/redis.pid"
REDIS_LOG_FILE="$REDIS_RUN/redis.log"

say() { printf 'infra: %s\n' "$*"; }
die() {
  printf 'infra: error: %s\n' "$*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# --- processes we own -------------------------------------------------------------------------------

# kill -0 also succeeds on a zombie: an exited daemon waits there until init reaps it, which can take
# seconds on some machines, so "alive" means "exists and is not a zombie".
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  if [[ -r "/proc/$1/stat" ]]; then
    state="$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat")"
  else
    state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  fi
  [[ "$state" != Z* ]]
}

# Prints the pid from a pid file when that process is alive and its command line contains the marker;
# a pid file left behind by a crash (or a recycled pid) must never make us signal a stranger.
owned_pid() {
  local pid_file="$1" marker="$2" pid
  [[ -f "$pid_file" ]] || return 1
  pid="$(tr -dc '0-9' <"$pid_file")"
  [[ -n "$pid" ]] && alive "$pid" || return 1
  [[ "$(process_title "$pid")" == *"$marker"* ]] || return 1
  printf '%s' "$pid"
}

# A process's command line, or the title it gave itself (Redis: "redis-server <address>:<port>").
process_title() {
  { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || ps -o args= -p "$1" 2>/dev/null; } | sed 's/ *$//'
}

rss_mb() {
  local kb
  kb="$(ps -o rss= -p "$1" 2>/dev/null | tr -dc '0-9')"
  [[ -n "$kb" ]] && printf '%s MB' "$((kb / 1024))" || printf 'unknown'
}

# SIGTERM lets Kafka shut down cleanly (flushes logs, no recovery on next start) and Redis exit; SIGKILL
# only when it does not happen within the grace period.
stop_owned() {
  local name="$1" pid_file="$2" marker="$3" grace_s="$4" pid waited=0
  if ! pid="$(owned_pid "$pid_file" "$marker")"; then
    if [[ -f "$pid_file" ]]; then
      rm -f "$pid_file"
      say "$name: not running (removed stale pid file)"
    else
      say "$name: not started by infra/local.sh, nothing to stop"
    fi
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((waited < grace_s * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if alive "$pid"; then
    say "$name: pid $pid ignored SIGTERM for ${grace_s}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$pid_file"
  say "$name: stopped (pid $pid, $((waited * 100)) ms)"
}

# True when something accepts TCP connections on 127.0.0.1:port (bash's /dev/tcp, no extra tools).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- Kafka ------------------------------------------------------------------------------------------

# probe_kafka <brokers> [probe.mjs options]
probe_kafka() {
  local brokers="$1"
  shift
  node "$INFRA_HOME/probe.mjs" kafka --brokers "$brokers" "$@"
}

require_node_modules() {
  command -v node >/dev/null || die "node is not installed (Node.js 20+ runs the readiness checks)"
  [[ -d "$INFRA_HOME/../node_modules/kafkajs" ]] ||
    die "kafkajs is not installed; run \`npm ci\` at the repository root first (it answers the readiness check)"
}

require_java() {
  command -v java >/dev/null ||
    die "java is not installed; install a JDK/JRE 17 (Debian/Ubuntu: sudo bash infra/ensure-packages.sh)"
  local major
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  [[ -n "$major" && "$major" -ge 11 ]] || die "Kafka $KAFKA_VERSION needs Java 11+, found: $(java -version 2>&1 | head -n 1)"
}

# The broker classpath, fetched once from Maven Central (reusing ~/.m2).
ensure_kafka_jars() {
  if [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$KAFKA_LIBS/slf4j-reload4j-1.7.36.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null ||
    die "the Kafka jars are not fetched yet and mvn is not installed (Debian/Ubuntu: sudo bash infra/ensure-packages.sh)"
  # A version bump must not leave two Kafka versions on one classpath.
  rm -rf "$KAFKA_LIBS"
  say "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into infra/kafka/target/libs (once)"
  local started
  started="$(now_ms)"
  # Output to a file: quiet when it works (Maven 3.8 prints stray colour codes even in batch mode),
  # quoted when it does not.
  mkdir -p "$KAFKA_RUN"
  mvn -B -q -f "$KAFKA_POM" package >"$KAFKA_RUN/maven.log" 2>&1 ||
    die "maven could not fetch the Kafka jars; last lines of $KAFKA_RUN/maven.log:
$(tail -n 30 "$KAFKA_RUN/maven.log")"
  [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "maven ran but $KAFKA_LIBS has no kafka_2.13-$KAFKA_VERSION.jar"
  say "kafka: jars fetched in $(($(now_ms) - started)) ms ($(du -sh "$KAFKA_LIBS" | cut -f1))"
}

# Single combined broker/controller, sized for tests on a laptop or a 2-core CI machine.
render_kafka_properties() {
  mkdir -p "$KAFKA_RUN"
  cat >"$KAFKA_PROPERTIES" <<EOF
# Rendered by infra/local.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
# One broker: internal topics cannot have more replicas than brokers, or every consumer group join
# fails with "The group coordinator is not available".
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Defaults are 50 partitions each: slow to create and wasteful for tests.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
# Default 3000 ms: every test's first consumer would wait 3 s for peers that never come.
group.initial.rebalance.delay.ms=0
# Topics are created on purpose (partition count is part of the design), never by a typo.
auto.create.topics.enable=false
num.partitions=1
# Default 128 MB for compacted topics; 1 MB is plenty for test volumes.
log.cleaner.dedupe.buffer.size=1048577
num.network.threads=2
num.io.threads=2
# After an unclean stop (kill -9, reboot) the restarted broker cannot register until the controller has
# expired its previous session: 9 s by default, about 13 s of startup measured here. 6 s keeps six
# missed 1 s heartbeats of margin for a loaded 2-core machine.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
EOF
}

format_kafka_storage() {
  if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
    return 0 # formatted by an earlier start: keep its cluster id and data
  fi
  # Same id format as Kafka's own `random-uuid` (16 random bytes, base64url, never starting with '-'),
  # made without paying for an extra JVM start.
  local cluster_id
  cluster_id="$(node -e "
    const { randomBytes } = require('node:crypto');
    let id;
    do id = randomBytes(16).toString('base64url'); while (id.startsWith('-'));
    process.stdout.write(id);")"
  java "-Dlog4j.configuration=file:$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
    format -t "$cluster_id" -c "$KAFKA_PROPERTIES" --ignore-formatted >>"$KAFKA_LOG_FILE" 2>&1 ||
    die "formatting Kafka storage failed; last lines of $KAFKA_LOG_FILE:
$(tail -n 20 "$KAFKA_LOG_FILE")"
  say "kafka: formatted storage in ${KAFKA_DATA#"$PWD"/} (cluster id $cluster_id)"
}

start_kafka() {
  require_node_modules
  local pid info started
  if [[ "$KAFKA_BROKERS" != "$LOCAL_BROKER" ]]; then
    info="$(probe_kafka "$KAFKA_BROKERS" 2>&1)" ||
      die "KAFKA_BROKERS=$KAFKA_BROKERS does not answer ($info); unset it to let infra/local.sh start a broker on $LOCAL_BROKER"
    say "kafka: using KAFKA_BROKERS=$KAFKA_BROKERS ($info); not starting a broker"
    return 0
  fi
  if pid="$(owned_pid "$KAFKA_PID_FILE" kafka.Kafka)"; then
    say "kafka: already started by infra/local.sh (pid $pid), checking that it answers"
    info="$(probe_kafka "$LOCAL_BROKER" --wait-ms "$((KAFKA_START_TIMEOUT * 1000))" --pid "$pid" 2>&1)" ||
      die "kafka: pid $pid runs but does not answer at $LOCAL_BROKER ($info); see $KAFKA_LOG_FILE, or run: bash infra/local.sh stop"
    say "kafka: ready at $LOCAL_BROKER ($info)"
    return 0
  fi
  if info="$(probe_kafka "$LOCAL_BROKER" 2>/dev/null)"; then
    say "kafka: something already answers at $LOCAL_BROKER, using it ($info); not starting a broker"
    return 0
  fi
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_in_use "$port"; then
      die "port $port on 127.0.0.1 is taken by something that is not a Kafka broker answering at $KAFKA_BROKERS (see: ss -ltnp 'sport = :$port'); stop it or choose free ports with KAFKA_PORT=... KAFKA_CONTROLLER_PORT=..."
    fi
  done

  require_java
  ensure_kafka_jars
  started="$(now_ms)"
  rm -f "$KAFKA_PID_FILE"
  render_kafka_properties
  printf '\n===== infra/local.sh start %s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$KAFKA_LOG_FILE"
  # Failure messages quote only this start's part of the (appended) log.
  local log_offset
  log_offset="$(wc -c <"$KAFKA_LOG_FILE")"
  format_kafka_storage

  # SerialGC and C1-only JIT: a short-lived single-node test broker starts faster and stays smaller
  # with them; KAFKA_HEAP_OPTS is only read by Kafka's bin scripts, so the heap is set here.
  local -a jvm_opts
  read -r -a jvm_opts <<<"$KAFKA_HEAP_OPTS"
  jvm_opts+=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_LOG4J")
  # Own session (setsid, when present) so a Ctrl-C in the terminal that ran `npm run infra:up` does not
  # reach the broker later; stdin closed, output appended to the log.
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  "${launcher[@]}" java "${jvm_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPERTIES" \
    </dev/null >>"$KAFKA_LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$KAFKA_PID_FILE"
  say "kafka: starting Kafka $KAFKA_VERSION on $LOCAL_BROKER (pid $pid, log ${KAFKA_LOG_FILE#"$PWD"/})"

  local rc=0
  info="$(probe_kafka "$LOCAL_BROKER" --wait-ms "$((KAFKA_START_TIMEOUT * 1000))" --pid "$pid" 2>&1)" || rc=$?
  if ((rc != 0)); then
    local why="did not answer within ${KAFKA_START_TIMEOUT}s"
    ((rc == 3)) && why="exited during startup"
    # A half-started broker would hold the ports and the data dir lock; stop it so a retry starts clean.
    stop_owned kafka "$KAFKA_PID_FILE" kafka.Kafka 10 >/dev/null
    die "kafka $why ($info). Broker log of this start ($KAFKA_LOG_FILE):
$(tail -c +"$((log_offset + 1))" "$KAFKA_LOG_FILE" | tail -n 40)
Hints: a port taken by another program, or storage formatted for another cluster (rm -rf ${RUN_DIR#"$PWD"/})."
  fi
  say "kafka: ready at $LOCAL_BROKER in $(($(now_ms) - started)) ms ($info, RSS $(rss_mb "$pid"))"
}

# --- Redis ------------------------------------------------------------------------------------------

redis_answers() {
  if command -v redis-cli >/dev/null; then
    [[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]
  else
    node "$INFRA_HOME/probe.mjs" redis --url "$REDIS_URL" >/dev/null 2>&1
  fi
}

# redis://[user:password@]host[:port][/db] → "host port"
redis_host_port() {
  local host_port="${REDIS_URL#*://}"
  host_port="${host_port##*@}"
  host_port="${host_port%%/*}"
  if [[ "$host_port" == *:* ]]; then
    printf '%s %s' "${host_port%%:*}" "${host_port##*:}"
  else
    printf '%s 6379' "$host_port"
  fi
}

redis_pid_serves_port() { [[ " $(process_title "$1") " == *":$2 "* ]]; }

start_redis() {
  local pid host port
  read -r host port <<<"$(redis_host_port)"
  if pid="$(owned_pid "$REDIS_PID_FILE" redis-server)"; then
    # Started by an earlier `start`, maybe with another REDIS_URL: never orphan it by starting a second.
    if redis_pid_serves_port "$pid" "$port" && redis_answers; then
      say "redis: already started by infra/local.sh (pid $pid) at $REDIS_URL"
      return 0
    fi
    die "redis: infra/local.sh already runs a Redis that is not $REDIS_URL (pid $pid: $(process_title "$pid")); run \`bash infra/local.sh stop\` first"
  fi
  if redis_answers; then
    say "redis: something already answers at $REDIS_URL, using it; not starting one"
    return 0
  fi
  # Started only on this machine, on the URL's port.
  if [[ "$host" != 127.0.0.1 && "$host" != localhost ]]; then
    die "redis does not answer at $REDIS_URL, and infra/local.sh only starts Redis on this machine (127.0.0.1)"
  fi
  command -v redis-server >/dev/null ||
    die "redis does not answer at $REDIS_URL and redis-server is not installed; install it (Debian/Ubuntu: sudo apt-get install redis-server, or sudo bash infra/ensure-packages.sh) or point REDIS_URL at a running Redis"
  port_in_use "$port" &&
    die "port $port on 127.0.0.1 is taken by something that does not answer Redis PING at $REDIS_URL; set REDIS_URL to a free port"

  mkdir -p "$REDIS_RUN"
  rm -f "$REDIS_PID_FILE"
  # Test store: no RDB snapshots, no AOF, so nothing outlives `stop` and no disk I/O during tests.
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$REDIS_PID_FILE" \
    --logfile "$REDIS_LOG_FILE" --dir "$REDIS_RUN" --save '' --appendonly no ||
    die "redis-server failed to start; see $REDIS_LOG_FILE"
  local tries=0
  until redis_answers; do
    ((tries++ < 100)) || die "redis-server started but does not answer at $REDIS_URL after 10s; last lines of $REDIS_LOG_FILE:
$(tail -n 20 "$REDIS_LOG_FILE" 2>/dev/null)"
    sleep 0.1
  done
  say "redis: started at $REDIS_URL (pid $(cat "$REDIS_PID_FILE"), log ${REDIS_LOG_FILE#"$PWD"/})"
}

# --- commands ---------------------------------------------------------------------------------------

cmd_status() {
  local pid info healthy=0
  if pid="$(owned_pid "$KAFKA_PID_FILE" kafka.Kafka)"; then
    if info="$(probe_kafka "$LOCAL_BROKER" 2>/dev/null)"; then
      say "kafka: running, started by infra/local.sh (pid $pid, $LOCAL_BROKER, RSS $(rss_mb "$pid"), $info)"
    else
      say "kafka: process runs, started by infra/local.sh (pid $pid), but does not answer at $LOCAL_BROKER (yet?)"
      healthy=3
    fi
  else
    pid=""
  fi
  # The brokers clients use, when that is not the broker reported above.
  if [[ -z "$pid" || "$KAFKA_BROKERS" != "$LOCAL_BROKER" ]]; then
    if info="$(probe_kafka "$KAFKA_BROKERS" 2>/dev/null)"; then
      say "kafka: answers at $KAFKA_BROKERS, not started by infra/local.sh ($info)"
    else
      say "kafka: not running at $KAFKA_BROKERS"
      healthy=3
    fi
  fi
  if pid="$(owned_pid "$REDIS_PID_FILE" redis-server)"; then
    say "redis: running, started by infra/local.sh (pid $pid, $(process_title "$pid"), RSS $(rss_mb "$pid"))"
  else
    pid=""
  fi
  if [[ -n "$pid" ]] && redis_pid_serves_port "$pid" "$(redis_host_port | cut -d' ' -f2)"; then
    : # that is the one REDIS_URL names, reported above
  elif redis_answers; then
    say "redis: answers at $REDIS_URL, not started by infra/local.sh"
  else
    say "redis: not running at $REDIS_URL"
    healthy=3
  fi
  return "$healthy"
}

case "${1:-}" in
start)
  start_kafka
  start_redis
  ;;
stop)
  stop_owned kafka "$KAFKA_PID_FILE" kafka.Kafka 30
  stop_owned redis "$REDIS_PID_FILE" redis-server 10
  ;;
status) cmd_status ;;
*)
  echo "usage: bash infra/local.sh start|stop|status   (knobs: see the top of this file)" >&2
  exit 2
  ;;
esac
