#!/bin/sh
# Re-takes the third column of cases.tsv: Kafka's own SslPrincipalMapper on each rule and distinguished name.
# Usage: measure.sh KAFKA_CLIENTS_JAR   (e.g. libs/kafka-clients-3.9.2.jar of a Kafka archive)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
jar=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac -d "$work" -cp "$jar" "$here/MapPrincipal.java"
cut -f1,2 "$here/cases.tsv" | tr '\t' '\n' | tr '\n' '\0' | xargs -0 java -cp "$jar:$work" MapPrincipal >"$work/answers"
cut -f1,2 "$here/cases.tsv" | paste - "$work/answers" >"$work/cases.tsv"
mv "$work/cases.tsv" "$here/cases.tsv"
