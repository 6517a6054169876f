"""Every cp-ansible variable is either read by kafkactl or reported with the reason kafkactl does not support it."""

from __future__ import annotations

from pathlib import Path

from kafkactl.inventory.validate import cp_ansible_unsupported, cp_ansible_variables, known_variables, unsupported_reason

from helpers import run_cli


def test_every_cp_ansible_variable_is_read_or_has_a_reason() -> None:
    read = set(known_variables())
    unexplained = sorted(name for name in cp_ansible_variables() - read if unsupported_reason(name) is None)
    assert not unexplained, f"{len(unexplained)} cp-ansible variables neither read nor explained: {', '.join(unexplained)}"


def test_the_listing_holds_cp_ansible_7_9_and_the_current_branch() -> None:
    """Names only 7.9.x defines, and names only later branches define."""
    assert {"kafka_controller_ssl_client_authentication", "kafka_sasl_enabled_mechanisms", "oauth_issuer_url",
            "support_bundle_output_path"} <= cp_ansible_variables()
    assert {"kafka_broker_jmxexporter_startup_delay", "control_center_next_gen_custom_properties"} <= cp_ansible_variables()


def test_no_rule_gives_a_reason_for_a_variable_kafkactl_reads() -> None:
    read = known_variables()
    misleading = [(pattern.pattern, name) for pattern, _ in cp_ansible_unsupported() for name in read if pattern.fullmatch(name)]
    assert not misleading


def test_every_rule_explains_some_variable() -> None:
    """No dead rule: each one is the first match of at least one listed variable kafkactl does not read."""
    rules = cp_ansible_unsupported()
    used = {next(i for i, (pattern, _) in enumerate(rules) if pattern.fullmatch(name))
            for name in cp_ansible_variables() - set(known_variables()) if unsupported_reason(name) is not None}
    dead = [rules[i][0].pattern for i in range(len(rules)) if i not in used]
    assert not dead, f"rules that explain no variable: {dead}"


def test_reasons_are_one_short_clause() -> None:
    for pattern, why in cp_ansible_unsupported():
        assert why and why == why.strip() and "\n" not in why, pattern.pattern
        assert ";" not in why and not why.endswith("."), why  # the message goes on with "; it is ignored"


def test_validate_says_why_a_cp_ansible_variable_is_not_supported(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  vars:\n    kafka_broker_jolokia_enabled: true\nzookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: }\n"
    )
    outcome = run_cli("validate", str(inventory))
    assert outcome.exit_code == 0
    assert outcome.stderr == (
        f"warning: {inventory}:3: kafka_broker_jolokia_enabled: not supported by kafkactl: kafkactl does not install "
        "Jolokia: it reads what it needs with Kafka's own tools over SSH; it is ignored\n"
    )


def test_a_name_of_an_unsupported_family_without_a_default_gets_its_reason(tmp_path: Path) -> None:
    """cp-ansible's samples set kafka_broker_kerberos_principal, which no defaults file defines."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars:\n    kafka_broker_kerberos_principal: kafka/host@REALM\nzookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: }\n")
    outcome = run_cli("validate", str(inventory))
    assert outcome.exit_code == 0, outcome.stderr
    assert "kafka_broker_kerberos_principal: not supported by kafkactl: Kerberos is not supported; it is ignored" in outcome.stderr
