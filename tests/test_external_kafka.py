"""Connect and Schema Registry against a Kafka cluster that is not in the inventory: Confluent Cloud with
cp-ansible's ccloud_kafka_* variables, or any cluster with external_kafka_*."""

from __future__ import annotations

import json
from pathlib import Path

from kafkactl.components.properties import parse_properties
from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory

from helpers import run_cli

SECRET = "zq9-Ext\"ernal$ecret"
CCLOUD = f"""\
all:
  vars:
    ccloud_kafka_enabled: true
    ccloud_kafka_bootstrap_servers: pkc-1.europe-west1.gcp.confluent.cloud:9092,pkc-2.europe-west1.gcp.confluent.cloud:9092
    ccloud_kafka_key: APIKEY1
    ccloud_kafka_secret: {json.dumps(SECRET)}
kafka_connect:
  hosts: {{connect1: }}
schema_registry:
  hosts: {{sr1: }}
"""
SCRAM_OVER_TLS = f"""\
all:
  vars:
    external_kafka_bootstrap_servers: "kafka1.example.net:9093, kafka2.example.net:9093"
    external_kafka_security_protocol: SASL_SSL
    external_kafka_sasl_mechanism: SCRAM-SHA-512
    external_kafka_sasl_user: connect
    external_kafka_sasl_password: {json.dumps(SECRET)}
    ssl_truststore_filepath: /etc/kafka/ssl/external-truststore.p12
    ssl_truststore_password: ts-Secret-2
kafka_connect:
  hosts: {{connect1: }}
"""


def _properties(tmp_path: Path, text: str) -> dict[str, dict[str, str]]:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    desired = desired_state(read_inventory(path).inventory)
    return {f.path: parse_properties(f.content) for state in desired.hosts for f in state.files if f.path.endswith(".properties")}


def test_connect_and_schema_registry_on_confluent_cloud(tmp_path: Path) -> None:
    files = _properties(tmp_path, CCLOUD)
    connect = files["/etc/kafka/connect-distributed.properties"]
    assert connect["bootstrap.servers"] == "pkc-1.europe-west1.gcp.confluent.cloud:9092,pkc-2.europe-west1.gcp.confluent.cloud:9092"
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="APIKEY1" '
            'password="zq9-Ext\\"ernal$ecret";')
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert (connect[f"{prefix}security.protocol"], connect[f"{prefix}sasl.mechanism"]) == ("SASL_SSL", "PLAIN")
        assert connect[f"{prefix}sasl.jaas.config"] == jaas
        assert f"{prefix}ssl.truststore.location" not in connect, "Confluent Cloud's certificates: the JVM's CAs"
    assert connect["config.storage.replication.factor"] == "3", "not capped by the inventory's (absent) brokers"
    registry = files["/etc/schema-registry/schema-registry.properties"]
    assert registry["kafkastore.bootstrap.servers"] == (
        "SASL_SSL://pkc-1.europe-west1.gcp.confluent.cloud:9092,SASL_SSL://pkc-2.europe-west1.gcp.confluent.cloud:9092")
    assert registry["kafkastore.sasl.jaas.config"] == jaas and registry["kafkastore.topic.replication.factor"] == "3"


def test_any_external_cluster_with_scram_over_tls(tmp_path: Path) -> None:
    connect = _properties(tmp_path, SCRAM_OVER_TLS)["/etc/kafka/connect-distributed.properties"]
    assert connect["bootstrap.servers"] == "kafka1.example.net:9093,kafka2.example.net:9093"
    assert connect["admin.sasl.mechanism"] == "SCRAM-SHA-512"
    assert connect["admin.sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"connect\"")
    assert connect["producer.ssl.truststore.location"] == "/etc/kafka/ssl/external-truststore.p12"
    assert "producer.ssl.keystore.location" not in connect


def test_the_api_secret_is_masked_in_every_output(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(CCLOUD)
    for args in (("plan", "--offline", "--diff"), ("plan", "--offline", "--json"), ("validate",)):
        outcome = run_cli(*args, str(path))
        assert outcome.exit_code in (0, 2), outcome.stderr
        assert SECRET not in outcome.stdout + outcome.stderr and json.dumps(SECRET)[1:-1] not in outcome.stdout, args
    assert "password=\"********\"" in run_cli("plan", "--offline", "--diff", str(path)).stdout
