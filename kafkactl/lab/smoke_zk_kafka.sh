#!/bin/bash
# Smoke test of a lab: ZooKeeper on ZK_HOST, a ZooKeeper-mode broker on BROKER_HOST and
# a KRaft controller on CONTROLLER_HOST, each a systemd service installed over SSH from
# this machine with strict host-key checking; prints readiness times and JVM RSS.
#   kafkactl/lab/smoke_zk_kafka.sh STATE_DIR [ZK_HOST BROKER_HOST CONTROLLER_HOST]
set -euo pipefail
S=$(realpath "${1:?usage: $0 STATE_DIR [ZK_HOST BROKER_HOST CONTROLLER_HOST]}")
ZK=${2:-h1}; BROKER=${3:-h2}; CTL=${4:-h3}
field() { python3 -c "import json,sys; d=json.load(open('$S/lab.json')); print(eval(sys.argv[1]))" "$1"; }
ARCH=$(field "d['kafka']['path']")
V=$(field "d['kafka']['version']")
H1=$(field "d['hosts']['$ZK']['address']")
H2=$(field "d['hosts']['$BROKER']['address']")
H3=$(field "d['hosts']['$CTL']['address']")
OPTS=(-i "$S/id_ed25519" -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$S/known_hosts" -o BatchMode=yes)
SSH=(ssh "${OPTS[@]}")
SCP=(scp -q "${OPTS[@]}")
K=/opt/kafka_2.13-$V
JOPTS="-Djava.awt.headless=true -Dlog4j.configuration=file:$K/config/log4j.properties"
TOPTS="-Djava.awt.headless=true -Dlog4j.configuration=file:$K/config/tools-log4j.properties"

for ip in $H1 $H2 $H3; do
  t0=$(date +%s.%N)
  "${SCP[@]}" "$ARCH" "root@$ip:/tmp/kafka.tgz"
  "${SSH[@]}" root@$ip "tar -C /opt -xzf /tmp/kafka.tgz && rm /tmp/kafka.tgz && cat $K/VERSION"
  echo "copy+unpack to $ip: $(python3 -c "print(round($(date +%s.%N)-$t0,2))")s"
done

echo "== ZooKeeper on $ZK"
"${SSH[@]}" root@$H1 bash -s <<EOS
set -e
mkdir -p /etc/kafka /var/lib/zookeeper
cat > /etc/kafka/zookeeper.properties <<'E'
dataDir=/var/lib/zookeeper
clientPort=2181
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
E
cat > /etc/systemd/system/zookeeper.service <<E
[Unit]
Description=ZooKeeper
After=network.target
[Service]
ExecStart=/usr/bin/java -Xms64m -Xmx128m $JOPTS -cp '$K/libs/*' org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/kafka/zookeeper.properties
Restart=on-failure
[Install]
WantedBy=multi-user.target
E
systemctl daemon-reload
t0=\$(date +%s.%N)
systemctl enable --now zookeeper
until echo srvr | nc -w 1 localhost 2181 | grep -q '^Mode'; do sleep 0.2; done
echo "zookeeper ready after \$(python3 -c "print(round(\$(date +%s.%N)-\$t0,2))")s"
echo srvr | nc -w 1 localhost 2181
EOS

echo "== ZooKeeper-mode broker on $BROKER"
"${SSH[@]}" root@$H2 bash -s <<EOS
set -e
mkdir -p /etc/kafka /var/lib/kafka
cat > /etc/kafka/server.properties <<E
broker.id=1
listeners=PLAINTEXT://0.0.0.0:9092
advertised.listeners=PLAINTEXT://$H2:9092
log.dirs=/var/lib/kafka
zookeeper.connect=$ZK:2181
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
E
cat > /etc/systemd/system/kafka.service <<E
[Unit]
Description=Kafka broker
After=network.target
[Service]
ExecStart=/usr/bin/java -Xms256m -Xmx256m -XX:+UseG1GC $JOPTS -cp '$K/libs/*' kafka.Kafka /etc/kafka/server.properties
Restart=on-failure
LimitNOFILE=100000
[Install]
WantedBy=multi-user.target
E
systemctl daemon-reload
t0=\$(date +%s.%N)
systemctl enable --now kafka
until journalctl -u kafka --no-pager | grep -q 'started (kafka.server.KafkaServer)'; do sleep 0.2; done
echo "broker ready (KafkaServer started) after \$(python3 -c "print(round(\$(date +%s.%N)-\$t0,2))")s"
EOS

echo "== broker ids registered in ZooKeeper"
"${SSH[@]}" root@$H1 "java -Xmx64m $TOPTS -cp '$K/libs/*' org.apache.zookeeper.ZooKeeperMain -server localhost:2181 ls /brokers/ids 2>/dev/null | grep '^\\['"

echo "== TopicCommand from $CTL against $BROKER"
"${SSH[@]}" root@$H3 "t0=\$(date +%s.%N); java -Xmx128m $TOPTS -cp '$K/libs/*' org.apache.kafka.tools.TopicCommand --bootstrap-server $BROKER:9092 --create --if-not-exists --topic lab-test --partitions 3 --replication-factor 1; java -Xmx128m $TOPTS -cp '$K/libs/*' org.apache.kafka.tools.TopicCommand --bootstrap-server $BROKER:9092 --list; echo \"create+list: \$(python3 -c \"print(round(\$(date +%s.%N)-\$t0,2))\")s\""

echo "== KRaft controller on $CTL"
"${SSH[@]}" root@$H3 bash -s <<EOS
set -e
mkdir -p /etc/kafka /var/lib/kraft
cat > /etc/kafka/controller.properties <<E
process.roles=controller
node.id=3000
controller.quorum.voters=3000@$CTL:9093
listeners=CONTROLLER://0.0.0.0:9093
advertised.listeners=CONTROLLER://$CTL:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT
log.dirs=/var/lib/kraft
E
if [ ! -f /var/lib/kraft/meta.properties ]; then
  CID=\$(java -Xmx64m $TOPTS -cp '$K/libs/*' kafka.tools.StorageTool random-uuid)
  echo "cluster id \$CID"
  java -Xmx128m $TOPTS -cp '$K/libs/*' kafka.tools.StorageTool format -t \$CID -c /etc/kafka/controller.properties
fi
cat > /etc/systemd/system/kafka-controller.service <<E
[Unit]
Description=Kafka KRaft controller
After=network.target
[Service]
ExecStart=/usr/bin/java -Xms256m -Xmx256m -XX:+UseG1GC $JOPTS -cp '$K/libs/*' kafka.Kafka /etc/kafka/controller.properties
Restart=on-failure
[Install]
WantedBy=multi-user.target
E
systemctl daemon-reload
t0=\$(date +%s.%N)
systemctl enable --now kafka-controller
until journalctl -u kafka-controller --no-pager | grep -q 'Kafka Server started'; do sleep 0.2; done
echo "controller up after \$(python3 -c "print(round(\$(date +%s.%N)-\$t0,2))")s"
java -Xmx128m $TOPTS -cp '$K/libs/*' org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller $CTL:9093 describe --status
EOS

echo "== RSS of the JVMs"
for spec in "$H1 zookeeper" "$H2 kafka" "$H3 kafka-controller"; do
  set -- $spec
  "${SSH[@]}" root@$1 "pid=\$(systemctl show -p MainPID --value $2); echo \"$2 on \$(hostname): RSS \$(ps -o rss= -p \$pid | awk '{printf \"%.0f MiB\", \$1/1024}')\""
done
