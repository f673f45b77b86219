#!/usr/bin/env bash
# A real single-node Apache Kafka 3.9 broker (KRaft) on 127.0.0.1 for the tests and benchmarks.
#
#   scripts/kafka.sh start    fetch the jars (cached), format storage, start, wait until ready,
#                             print KAFKA_BOOTSTRAP=…, KAFKA_SASL_PLAIN_BOOTSTRAP=…,
#                             KAFKA_SASL_SCRAM_BOOTSTRAP=…, KAFKA_SASL_SSL_BOOTSTRAP=… and
#                             KAFKA_CA_FILE=… lines
#   scripts/kafka.sh stop     stop it and remove its data
#   scripts/kafka.sh status   say whether it runs
#
# Listeners: PLAINTEXT, SASL_PLAINTEXT with PLAIN, SASL_PLAINTEXT with SCRAM-SHA-512, and
# SASL_SSL with PLAIN (like ANTARES) whose certificate is signed by a CA made at start
# (KAFKA_CA_FILE) for the name "kafka.test", so clients must either skip hostname verification
# or fail it. The SASL user is alerts / alerts-secret. Ports start at $LSST_KAFKA_PORT (19092).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=3.9.1
cache="${LSST_KAFKA_CACHE:-$HOME/.cache/lsst-extendedness/kafka-$version}"
state="${LSST_KAFKA_STATE:-${TMPDIR:-/tmp}/lsst-extendedness-kafka}"
port="${LSST_KAFKA_PORT:-19092}"
plain=$port
sasl_plain=$((port + 1))
sasl_scram=$((port + 2))
controller=$((port + 3))
sasl_ssl=$((port + 4))
user=alerts
secret=alerts-secret

print_env() {
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$plain"
  echo "KAFKA_SASL_PLAIN_BOOTSTRAP=127.0.0.1:$sasl_plain"
  echo "KAFKA_SASL_SCRAM_BOOTSTRAP=127.0.0.1:$sasl_scram"
  echo "KAFKA_SASL_SSL_BOOTSTRAP=127.0.0.1:$sasl_ssl"
  echo "KAFKA_CA_FILE=$state/tls/ca.pem"
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

fetch() {
  if [ -f "$cache/libs/kafka_2.13-$version.jar" ]; then return; fi
  echo "fetching Apache Kafka $version from Maven Central into $cache" >&2
  mkdir -p "$cache"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$cache/libs.part" >&2
  rm -rf "$cache/libs"
  mv "$cache/libs.part" "$cache/libs"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

certificates() {
  local tls="$state/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=lsst-extendedness test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kafka.test" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:kafka.test\n' >"$tls/san.ext"
  openssl x509 -req -days 7 -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -extfile "$tls/san.ext" -out "$tls/server.pem" 2>/dev/null
  # Kafka's PEM key store: the unencrypted PKCS#8 key, then the certificate chain.
  openssl pkcs8 -topk8 -nocrypt -in "$tls/server.key" -out "$tls/server.p8"
  cat "$tls/server.p8" "$tls/server.pem" "$tls/ca.pem" >"$tls/keystore.pem"
}

configure() {
  mkdir -p "$state/data" "$state/logs"
  certificates
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$plain,SASL_PLAIN://127.0.0.1:$sasl_plain,SASL_SCRAM://127.0.0.1:$sasl_scram,SASL_TLS://127.0.0.1:$sasl_ssl,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SASL_PLAIN://127.0.0.1:$sasl_plain,SASL_SCRAM://127.0.0.1:$sasl_scram,SASL_TLS://127.0.0.1:$sasl_ssl
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAIN:SASL_PLAINTEXT,SASL_SCRAM:SASL_PLAINTEXT,SASL_TLS:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.name.sasl_plain.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plain.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$user" password="$secret" user_$user="$secret";
listener.name.sasl_scram.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_scram.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_tls.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_tls.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$user" password="$secret" user_$user="$secret";
listener.name.sasl_tls.ssl.keystore.type=PEM
listener.name.sasl_tls.ssl.keystore.location=$state/tls/keystore.pem
log.dirs=$state/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=20971520
replica.fetch.max.bytes=20971520
log.flush.interval.messages=9223372036854775807
PROPS
}

start() {
  if running; then
    print_env
    return
  fi
  fetch
  rm -rf "$state"
  configure
  local classpath="$cache/libs/*"
  # Not starting with "-" (one random id in 64 would), which the tool reads as an option and
  # refuses; Kafka's own ids avoid it too.
  local cluster=-
  while [[ $cluster == -* ]]; do
    cluster=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
  done
  java -cp "$classpath" -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
    -Dkafka.logs.dir="$state/logs" kafka.tools.StorageTool format -t "$cluster" \
    -c "$state/server.properties" --add-scram "SCRAM-SHA-512=[name=$user,password=$secret]" \
    >"$state/logs/format.log" 2>&1 || { cat "$state/logs/format.log" >&2; exit 1; }
  nohup java -Xmx768m -cp "$classpath" -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
    -Dkafka.logs.dir="$state/logs" kafka.Kafka "$state/server.properties" \
    >"$state/logs/stdout.log" 2>&1 &
  echo $! >"$state/pid"
  # Ready when every listener accepts connections and the broker has logged its start.
  for _ in $(seq 1 240); do
    if ! running; then
      echo "the Kafka broker exited while starting; its logs:" >&2
      tail -n 40 "$state/logs/stdout.log" "$state/logs/server.log" >&2 || true
      exit 1
    fi
    if port_open "$plain" && port_open "$sasl_plain" && port_open "$sasl_scram" &&
      port_open "$sasl_ssl" &&
      grep -q "Kafka Server started" "$state/logs/server.log" 2>/dev/null; then
      print_env
      return
    fi
    sleep 0.5
  done
  echo "the Kafka broker did not become ready within 120 s" >&2
  stop
  exit 1
}

stop() {
  if running; then
    local pid
    pid=$(cat "$state/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      echo "running (pid $(cat "$state/pid"))"
      print_env
    else
      echo "not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
