#!/bin/sh
# Re-takes VERSION.txt: every name in kafka.server.KafkaConfig.configDef() of that Kafka release, one per line, sorted.
# Usage: measure.sh VERSION LIBS_DIR   (LIBS_DIR: the libs/ of that release's kafka_2.13 archive, or its jars
# from Maven Central: kafka_2.13, kafka-clients, kafka-server-common, kafka-server, kafka-storage, kafka-raft,
# kafka-group-coordinator, kafka-metadata, kafka-transaction-coordinator, kafka-share-coordinator and their
# dependencies)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$1
libs=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac -d "$work" "$here/KafkaConfigNames.java"
java -cp "$work:$libs/*" KafkaConfigNames >"$here/$version.txt"
