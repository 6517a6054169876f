#!/bin/bash
# A ZooKeeper-mode cluster built without kafkactl, the way an operator's own script would: its own
# paths, unit names (zookeeper, kafka), ids that do not follow the host names, one property kafkactl
# does not write. The lab tests adopt it with kafkactl.
#   tests/lab/handbuilt_cluster.sh STATE_DIR "ZK1 ZK2 ZK3" "BROKER1 BROKER2 BROKER3"
set -euo pipefail
state=$(realpath "${1:?usage: $0 STATE_DIR ZOOKEEPER_HOSTS BROKER_HOSTS}")
read -r -a zookeepers <<< "${2:?ZooKeeper hosts}"
read -r -a brokers <<< "${3:?broker hosts}"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['kafka'][sys.argv[2]])" "$state/lab.json" "$1"; }
archive=$(field path)
version=$(field version)
ssh_=(ssh -F "$state/ssh_config" -l root)
home=/opt/kafka_2.13-$version
java_opts="-Djava.awt.headless=true -Dkafka.logs.dir=/var/log/streaming -Dlog4j.configuration=file:$home/config/log4j.properties"

# Ids shifted by one: the first host of each group is not id 1.
id_of() { echo $(( ($1 + 1) % $2 + 1 )); }

quorum=""
connect=""
for i in "${!zookeepers[@]}"; do
  quorum+="server.$(id_of "$i" ${#zookeepers[@]})=${zookeepers[$i]}:2888:3888"$'\n'
  connect+="${connect:+,}${zookeepers[$i]}:2181"
done

unit() {  # NAME DESCRIPTION MAIN-CLASS CONFIG HEAP
  cat <<EOF
[Unit]
Description=$2
After=network-online.target
[Service]
User=kafka
Group=kafka
ExecStart=/usr/bin/java -Xms$5 -Xmx$5 $java_opts -cp '$home/libs/*' $3 $4
Restart=on-failure
LimitNOFILE=100000
[Install]
WantedBy=multi-user.target
EOF
}

install_on() {  # HOST
  scp -q -F "$state/ssh_config" "$archive" "root@$1:/tmp/kafka.tgz"
  "${ssh_[@]}" "$1" "set -e; tar -C /opt -xzf /tmp/kafka.tgz && rm /tmp/kafka.tgz
    id -u kafka >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin kafka
    install -d -o root -g kafka -m 0750 /etc/streaming
    install -d -o kafka -g kafka -m 0750 /data /var/log/streaming"
}

for i in "${!zookeepers[@]}"; do
  host=${zookeepers[$i]}
  install_on "$host"
  "${ssh_[@]}" "$host" "set -e
    install -d -o kafka -g kafka -m 0750 /data/zookeeper
    echo $(id_of "$i" ${#zookeepers[@]}) > /data/zookeeper/myid && chown kafka:kafka /data/zookeeper/myid
    cat > /etc/streaming/zk.properties <<'EOF'
dataDir=/data/zookeeper
clientPort=2181
tickTime=2000
initLimit=10
syncLimit=5
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
$quorum
EOF
    chgrp kafka /etc/streaming/zk.properties
    cat > /etc/systemd/system/zookeeper.service <<'EOF'
$(unit zookeeper ZooKeeper org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/streaming/zk.properties 128m)
EOF
    systemctl daemon-reload && systemctl enable --now --quiet zookeeper"
done

for i in "${!brokers[@]}"; do
  host=${brokers[$i]}
  install_on "$host"
  "${ssh_[@]}" "$host" "set -e
    install -d -o kafka -g kafka -m 0750 /data/kafka
    cat > /etc/streaming/broker.properties <<'EOF'
broker.id=$(id_of "$i" ${#brokers[@]})
listeners=PLAINTEXT://:9091
advertised.listeners=PLAINTEXT://$host:9091
log.dirs=/data/kafka
zookeeper.connect=$connect
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
log.cleaner.threads=2
EOF
    chgrp kafka /etc/streaming/broker.properties
    cat > /etc/systemd/system/kafka.service <<'EOF'
$(unit kafka 'Kafka broker' kafka.Kafka /etc/streaming/broker.properties 256m)
EOF
    systemctl daemon-reload && systemctl enable --now --quiet kafka"
done

# Ready when every broker is registered in ZooKeeper.
for _ in $(seq 120); do
  ids=$("${ssh_[@]}" "${zookeepers[0]}" "java -Xmx64m -Dlog4j.configuration=file:$home/config/tools-log4j.properties \
    -cp '$home/libs/*' org.apache.zookeeper.ZooKeeperMain -server localhost:2181 ls /brokers/ids 2>/dev/null | grep '^\['" || true)
  if [[ $ids == "[1, 2, 3]" ]]; then echo "brokers registered: $ids"; exit 0; fi
  sleep 2
done
echo "brokers not registered within 240 s: ${ids:-none}" >&2
exit 1
