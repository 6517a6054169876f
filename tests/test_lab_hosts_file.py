"""The lab's block in /etc/hosts: first in the file while its lab is up, gone with it."""

from __future__ import annotations

from kafkactl.lab.hosts import write_machine_hosts


def test_block_is_written_first_replaced_and_removed(tmp_path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    write_machine_hosts("kafkactl-lab", {"kafka1": "10.219.77.14"}, hosts)
    write_machine_hosts("kafkactl-bench", {"kafka1": "10.219.78.14"}, hosts)
    assert hosts.read_text().splitlines()[:3] == ["# BEGIN kafkactl-bench", "10.219.78.14\tkafka1", "# END kafkactl-bench"]
    write_machine_hosts("kafkactl-lab", {"kafka1": "10.219.77.14", "kafka2": "10.219.77.15"}, hosts)
    assert hosts.read_text().splitlines()[1:3] == ["10.219.77.14\tkafka1", "10.219.77.15\tkafka2"]
    write_machine_hosts("kafkactl-lab", {}, hosts)
    write_machine_hosts("kafkactl-bench", {}, hosts)
    assert hosts.read_text() == "127.0.0.1 localhost\n"
