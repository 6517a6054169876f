#!/usr/bin/env bash
# Re-captures the Kafka 4 outputs here (*-4/): a KRaft controller (9991) and a broker (1) in one container of
# the lab image, each tool run with the words kafkactl's gates and evidence give it. Writes each capture's
# stdout, stderr and exit status into OUT (default: a new temporary directory, printed at the end).
#
#   bash tests/cases/tool_output/capture-kafka4.sh [VERSION] [OUT]
#
# Needs podman and the lab image (kafkactl lab up builds it); the archive is packed from Maven Central.
set -euo pipefail
version=${1:-4.1.1}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
archive=$(python3 -c "from kafkactl.lab.kafka_dist import ensure_kafka_archive; print(ensure_kafka_archive('$version')[0].path)")
image=$(podman images --format '{{.Repository}}:{{.Tag}}' | grep -m1 kafkactl-lab)
unpacked=$(mktemp -d)
tar -xzf "$archive" -C "$unpacked"
podman run --rm -v "$unpacked:/k:ro" -v "$out:/out" -e "KAFKA=/k/kafka_2.13-$version" --entrypoint /bin/bash "$image" -c '
set -u
J() { java -Xmx192m -XX:TieredStopAtLevel=1 -Xshare:auto -Dlog4j.configuration=file:/dev/null -cp "$KAFKA/libs/*" "$@"; }
common="controller.quorum.voters=9991@127.0.0.1:9093
controller.listener.names=CONTROLLER"
printf "%s\n" "process.roles=controller" "node.id=9991" "listeners=CONTROLLER://127.0.0.1:9093" \
  "listener.security.protocol.map=CONTROLLER:PLAINTEXT" "log.dirs=/tmp/c" "$common" > /tmp/c.properties
printf "%s\n" "process.roles=broker" "node.id=1" "listeners=BROKER://127.0.0.1:9092" "advertised.listeners=BROKER://127.0.0.1:9092" \
  "inter.broker.listener.name=BROKER" "listener.security.protocol.map=BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT" "log.dirs=/tmp/b" \
  "offsets.topic.replication.factor=1" "transaction.state.log.replication.factor=1" "$common" > /tmp/b.properties
: > /tmp/admin.properties
for n in c b; do
  java -Xmx256m -cp "$KAFKA/libs/*" kafka.tools.StorageTool format --cluster-id MkU3OEVBNTcwNTJENDM2Qk --config /tmp/$n.properties >/dev/null
  java -Xmx384m -Dlog4j.configuration=file:/dev/null -cp "$KAFKA/libs/*" kafka.Kafka /tmp/$n.properties >/tmp/$n.log 2>&1 &
done
sleep 15
J org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --command-config /tmp/admin.properties --create \
  --topic canary --partitions 3 --replication-factor 1 >/dev/null 2>&1
sleep 3
cap() { d=/out/$1; shift; mkdir -p "$d"; J "$@" >"$d/stdout" 2>"$d/stderr"; echo $? >"$d/exit_code"; }
cap metadata-quorum-status-4 org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller 127.0.0.1:9093 --command-config /tmp/admin.properties describe --status
cap metadata-quorum-replication-4 org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller 127.0.0.1:9093 --command-config /tmp/admin.properties describe --replication
cap topics-describe-in-sync-4 org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --command-config /tmp/admin.properties --describe
cap broker-api-versions-all-up-4 org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server 127.0.0.1:9092 --command-config /tmp/admin.properties
cap leader-election-nothing-to-do-4 org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server 127.0.0.1:9092 --admin.config /tmp/admin.properties --election-type PREFERRED --all-topic-partitions
cap features-describe-4 org.apache.kafka.tools.FeatureCommand --bootstrap-controller 127.0.0.1:9093 --command-config /tmp/admin.properties describe
'
rm -rf "$unpacked"
echo "captured into $out"
