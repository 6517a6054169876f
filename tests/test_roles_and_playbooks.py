"""Role data and playbooks name only things kafkactl has: gates, steps, templates."""

from __future__ import annotations

import pytest

from kafkactl.health import GATES
from kafkactl.model import COMPONENTS
from kafkactl.playbook import load_playbook
from kafkactl.resources import resource_dir
from kafkactl.roles import role


@pytest.mark.parametrize("component", COMPONENTS)
def test_role_names_known_gates_and_templates(component) -> None:
    spec = role(component)
    assert {spec.restart.serving, *spec.restart.ready, *spec.restart.before_stop} <= set(GATES)
    for file in spec.files:
        assert (resource_dir("templates") / file.template).is_file()


def test_site_playbook_starts_components_in_order() -> None:
    steps = load_playbook("site").steps
    assert steps[0].name == "prepare" and steps[0].target == "all"
    started = [s.target for s in steps if s.name == "start"]
    assert started == [c.value for c in COMPONENTS]
    for component in COMPONENTS:
        names = [s.name for s in steps if s.target == component.value and s.name in ("start", "roll")]
        assert names == ["start", "roll"]
    order = [str(s) for s in steps]
    # SCRAM users exist before a broker roll may bring a listener that needs them; the znodes that exist are secured
    # once the brokers set ACLs; metadata.version moves once every controller and broker runs the new binaries, before
    # Connect and Schema Registry.
    assert order.index("start kafka_broker") + 1 == order.index("scram_users kafka_broker") == order.index("roll kafka_broker") - 1
    assert order.index("roll kafka_broker") + 1 == order.index("zookeeper_acls kafka_broker")
    assert order.index("zookeeper_acls kafka_broker") + 1 == order.index("metadata_version kafka_controller")
