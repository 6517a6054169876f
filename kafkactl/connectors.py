"""The connectors an inventory declares (kafka_connect_connectors) run on its Connect cluster with that config.

They are read and changed through the Connect REST API of a running worker, from the worker itself (the
REST port need not be reachable from this machine): a small Python program, the same text every time, takes
the method and path as arguments and the JSON body on stdin, so a connector's settings (passwords
included) never reach a command line. A connector is created or reconfigured with PUT
/connectors/NAME/config, which Connect applies without restarting a worker, and deleted only when the
inventory says `state: absent`; after a change kafkactl waits until the connector and its tasks run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from kafkactl.errors import KafkactlError
from kafkactl.facts import running_members
from kafkactl.health import Observation
from kafkactl.model import Component, Connector, Host, Inventory
from kafkactl.plan import ConnectorChange, HostFacts, setting_changes
from kafkactl.remote import cmd
from kafkactl.tool_output import Unreadable
from kafkactl.transport import Connection, Transport

# Run with python3 on the worker: argv is METHOD URL, stdin the body; prints the status code, a line break, the body.
REST_CLIENT = """\
import sys, urllib.error, urllib.request
method, url = sys.argv[1:3]
body = sys.stdin.buffer.read() or None
request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=60) as answer:
        status, text = answer.status, answer.read()
except urllib.error.HTTPError as error:
    status, text = error.code, error.read()
sys.stdout.write(f"{status}\\n")
sys.stdout.flush()
sys.stdout.buffer.write(text)
"""


def _connector_path(name: str, *rest: str) -> str:
    """/connectors/NAME[/...], the name percent-encoded whole: a `?`, `#` or `%` in it names no other resource."""
    return "/".join(("/connectors", quote(name, safe=""), *rest))


def _rest(connection: Connection, port: int, method: str, path: str, body: object = None) -> tuple[int, object]:
    """One call to the worker's own REST API (`path` already encoded): the status code and the decoded JSON answer
    (None when empty)."""
    url = f"http://{connection.host.name}:{port}{path}"
    result = connection.run(cmd("python3", "-c", REST_CLIENT, method, url), check=False, timeout=90,
                            stdin=json.dumps(body).encode() if body is not None else b"")
    status, _, text = result.stdout.partition("\n")
    if result.code != 0 or not status.isdigit():
        detail = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise Unreadable(f"host {connection.host.name}: the Connect REST API at {url} did not answer: {detail}")
    try:
        return int(status), json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        raise Unreadable(f"host {connection.host.name}: {method} {path} answered {status} with no JSON: {text[:200]}") from None


def wanted_config(connector: Connector) -> dict[str, str]:
    """The config as Connect stores it: with the connector's name."""
    return {**connector.config, "name": connector.name}


def live_connectors(connection: Connection, port: int) -> dict[str, dict[str, str]]:
    """Each connector the Connect cluster runs, with its config."""
    status, answer = _rest(connection, port, "GET", "/connectors?expand=info")
    if status != 200 or not isinstance(answer, dict):
        raise Unreadable(f"host {connection.host.name}: GET /connectors answered {status}: {json.dumps(answer)[:200]}")
    return {name: dict(entry["info"]["config"]) for name, entry in answer.items()}


def _read_live(transport: Transport, workers: list[Host], port: int) -> dict[str, dict[str, str]]:
    """The connectors, read from the first running worker that answers."""
    problems = []
    for worker in workers:
        try:
            return live_connectors(transport.connection(worker.name), port)
        except (Unreadable, KafkactlError) as exc:
            problems.append(str(exc))
    raise KafkactlError(*problems, "No host was changed.")


def planned_changes(transport: Transport, inventory: Inventory, facts: Mapping[str, HostFacts]) -> tuple[ConnectorChange, ...]:
    """What the Connect cluster needs so each declared connector runs with its config (and each absent one is gone).
    With no worker running yet, every present connector is to be created once the workers start."""
    declared = inventory.cluster.kafka_connect_connectors
    if not declared:
        return ()
    running = running_members(inventory, facts, Component.KAFKA_CONNECT)
    live = _read_live(transport, running, inventory.cluster.kafka_connect_rest_port) if running else {}
    changes = []
    for connector in declared:
        now = live.get(connector.name)
        if connector.state == "absent":
            if now is not None:
                changes.append(ConnectorChange(connector.name, "delete", setting_changes(now, {})))
        elif now is None:
            changes.append(ConnectorChange(connector.name, "create", setting_changes({}, wanted_config(connector))))
        elif now != wanted_config(connector):
            changes.append(ConnectorChange(connector.name, "update", setting_changes(now, wanted_config(connector))))
    return tuple(changes)


def change(connection: Connection, inventory: Inventory, planned: ConnectorChange) -> None:
    """Make one planned change through this worker."""
    port = inventory.cluster.kafka_connect_rest_port
    if planned.action == "delete":
        status, answer = _rest(connection, port, "DELETE", _connector_path(planned.name))
        if status not in (204, 404):
            raise KafkactlError(f"host {connection.host.name}: connector {planned.name} not deleted: {status} {_message(answer)}")
        return
    connector = next(c for c in inventory.cluster.kafka_connect_connectors if c.name == planned.name)
    status, answer = _rest(connection, port, "PUT", _connector_path(planned.name, "config"), wanted_config(connector))
    if status not in (200, 201):
        raise KafkactlError(f"host {connection.host.name}: connector {planned.name} not {planned.action}d: {status} {_message(answer)}")


def running(connection: Connection, port: int, name: str) -> Observation[str]:
    """A connector and every task of it RUNNING (a failed task's trace, first line, as the reason otherwise)."""
    status, answer = _rest(connection, port, "GET", _connector_path(name, "status"))
    if status != 200 or not isinstance(answer, dict):
        return Observation(False, "", f"connector {name}: status {status} {_message(answer)}")
    states = [("connector", answer["connector"])] + [(f"task {t['id']}", t) for t in answer.get("tasks", [])]
    if len(states) == 1:
        return Observation(False, "", f"connector {name}: {answer['connector']['state']}, no task yet")
    failing = [f"{what} {state['state']}" + (f" ({state['trace'].splitlines()[0]})" if state.get("trace") else "")
               for what, state in states if state["state"] != "RUNNING"]
    summary = f"connector {name}: " + (", ".join(failing) if failing else f"RUNNING with {len(states) - 1} task(s)")
    return Observation(not failing, summary, summary)


def _message(answer: object) -> str:
    return str(answer.get("message", answer)) if isinstance(answer, dict) else str(answer)
