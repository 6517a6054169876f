#!/bin/sh
# Apache Kafka broker: kafka1.example.com. Managed by kafkactl.
# Run by systemd as root before every start of kafka-broker (ExecStartPre=+): a fresh password for the
# read-only JMX user kafkactl, which never leaves the host. The JVM reads its copy (owned by the service
# account and 0600, as Java requires); kafkactl's checks read root's copy, an argument file for Kafka's
# JmxTool. Both live in a root-owned directory the service account cannot write into.
set -eu
umask 077
dir=/run/kafkactl-jmx
install -d -m 0711 -o root -g root "$dir"
password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s %s\n' kafkactl "$password" >/run/kafkactl-jmx/kafka-broker.password.new
chown kafka /run/kafkactl-jmx/kafka-broker.password.new
mv -f /run/kafkactl-jmx/kafka-broker.password.new /run/kafkactl-jmx/kafka-broker.password
printf -- '--jmx-auth-prop\n%s=%s\n' kafkactl "$password" >/run/kafkactl-jmx/kafka-broker.client.new
mv -f /run/kafkactl-jmx/kafka-broker.client.new /run/kafkactl-jmx/kafka-broker.client
