"""Connectors declared in the inventory (kafka_connect_connectors) are planned against what a running worker's REST
API reports and changed through it (kafkactl/connectors.py). Here the REST client program kafkactl runs on a
worker runs on this machine, against a small stand-in for Connect's REST API; the lab test runs it on real workers."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest

from kafkactl import connectors
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import InventoryError
from kafkactl.inventory import read_inventory
from kafkactl.masking import MASK
from kafkactl.plan import ConnectorChange, HostFacts, PropertyChange, make_plan
from kafkactl.report import Report
from kafkactl.transport import CommandResult

from helpers import ROOT

KRAFT = ROOT / "inventories/kraft-cluster/inventory.yml"
SOURCE = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "file": "/var/lib/in.txt", "topic": "lines"}


class _Connect(BaseHTTPRequestHandler):
    """The part of Connect's REST API kafkactl uses, over one dict of connector configs."""

    stored: dict[str, dict[str, str]] = {}
    calls: list[tuple[str, str, object]] = []

    def _answer(self, status: int, body: object = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _called(self) -> list[str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path, body))
        return [unquote(part) for part in self.path.split("?")[0].strip("/").split("/")]

    def do_GET(self) -> None:
        parts = self._called()
        if parts == ["connectors"]:
            self._answer(200, {name: {"info": {"name": name, "config": config, "tasks": [], "type": "source"}}
                               for name, config in self.stored.items()})
        elif len(parts) == 3 and parts[2] == "status" and parts[1] in self.stored:
            self._answer(200, {"name": parts[1], "connector": {"state": "RUNNING", "worker_id": "w:8083"},
                               "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w:8083"}]})
        else:
            self._answer(404, {"error_code": 404, "message": f"Connector {parts[-1]} not found"})

    def do_PUT(self) -> None:
        parts = self._called()
        created = parts[1] not in self.stored
        self.stored[parts[1]] = {**self.calls[-1][2], "name": parts[1]}
        self._answer(201 if created else 200, {"name": parts[1], "config": self.stored[parts[1]], "tasks": []})

    def do_DELETE(self) -> None:
        parts = self._called()
        self._answer(204) if self.stored.pop(parts[1], None) is not None else self._answer(404, {"message": "not found"})

    def log_message(self, *args) -> None:
        pass


class _Worker:
    """A worker reached as kafkactl reaches one, except that its commands run here, under bash."""

    def __init__(self, port: int) -> None:
        self.host = SimpleNamespace(name="127.0.0.1")
        self.port = port
        self.stdins: list[bytes] = []

    def run(self, command, *, check: bool = True, timeout: float | None = None, stdin: bytes | None = None) -> CommandResult:
        self.stdins.append(stdin or b"")
        ran = subprocess.run(["bash", "-c", command.text], input=stdin, capture_output=True, timeout=timeout)
        return CommandResult(ran.returncode, ran.stdout.decode(), ran.stderr.decode())


@pytest.fixture
def worker() -> Iterator[_Worker]:
    _Connect.stored, _Connect.calls = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Connect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _Worker(server.server_address[1])
    finally:
        server.shutdown()


def _inventory(tmp_path: Path, connectors_yaml: str, port: int = 8083):
    path = tmp_path / "inventory.yml"
    extra = f"    kafka_connect_rest_port: {port}\n    kafka_connect_connectors:\n{connectors_yaml}"
    path.write_text(KRAFT.read_text().replace("    kafka_version: 3.9.2\n", "    kafka_version: 3.9.2\n" + extra))
    return read_inventory(path).inventory


def _yaml(*entries: dict) -> str:
    return "".join(f"      - {json.dumps(entry)}\n" for entry in entries) or "      []\n"


class _Transport:
    def __init__(self, worker: _Worker) -> None:
        self.worker = worker

    def connection(self, name: str) -> _Worker:
        return self.worker


def _running(inventory) -> dict[str, HostFacts]:
    return {h.name: HostFacts(active_services=frozenset({"kafka-connect"})) for h in inventory.hosts}


def test_values_are_strings_as_connect_takes_them_and_bad_entries_are_refused(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, _yaml({"name": "lines", "config": {**SOURCE, "tasks.max": 1, "errors.tolerance.all": True}}))
    assert inventory.cluster.kafka_connect_connectors[0].config["tasks.max"] == "1"
    assert inventory.cluster.kafka_connect_connectors[0].config["errors.tolerance.all"] == "true"
    with pytest.raises(InventoryError, match="connector lines is listed twice"):
        _inventory(tmp_path, _yaml({"name": "lines", "config": SOURCE}, {"name": "lines", "config": SOURCE}))
    with pytest.raises(InventoryError, match="config.name is other"):
        _inventory(tmp_path, _yaml({"name": "lines", "config": {**SOURCE, "name": "other"}}))
    with pytest.raises(InventoryError, match="kafka_connect_connectors"):
        _inventory(tmp_path, _yaml({"name": "a/b", "config": SOURCE}))
    with pytest.raises(InventoryError, match="connector lines: config is empty"):
        _inventory(tmp_path, _yaml({"name": "lines"}))
    assert _inventory(tmp_path, _yaml({"name": "old", "state": "absent"})).cluster.kafka_connect_connectors[0].config == {}


def test_create_then_nothing_then_update_then_delete_only_when_absent(tmp_path: Path, worker: _Worker) -> None:
    def plan(*entries: dict) -> tuple[ConnectorChange, ...]:
        inventory = _inventory(tmp_path, _yaml(*entries), worker.port)
        return connectors.planned_changes(_Transport(worker), inventory, _running(inventory)), inventory

    def apply(changes, inventory) -> None:
        for change in changes:
            connectors.change(worker, inventory, change)

    changes, inventory = plan({"name": "lines", "config": SOURCE})
    assert changes == (ConnectorChange("lines", "create", tuple(PropertyChange(k, None, v) for k, v in {**SOURCE, "name": "lines"}.items())),)
    apply(changes, inventory)
    assert _Connect.stored == {"lines": {**SOURCE, "name": "lines"}}
    assert connectors.running(worker, worker.port, "lines").summary == "connector lines: RUNNING with 1 task(s)"
    assert plan({"name": "lines", "config": SOURCE})[0] == ()

    changes, inventory = plan({"name": "lines", "config": {**SOURCE, "topic": "moved"}})
    assert changes == (ConnectorChange("lines", "update", (PropertyChange("topic", "lines", "moved"),)),)
    apply(changes, inventory)
    assert _Connect.calls[-1] == ("PUT", "/connectors/lines/config", {**SOURCE, "topic": "moved", "name": "lines"})

    assert plan()[0] == (), "a connector the inventory does not list is left alone"
    changes, inventory = plan({"name": "lines", "config": SOURCE, "state": "absent"})
    assert [c.action for c in changes] == ["delete"]
    apply(changes, inventory)
    assert _Connect.stored == {} and plan({"name": "lines", "config": SOURCE, "state": "absent"})[0] == ()


def test_settings_travel_on_stdin_and_are_masked_in_the_plan(tmp_path: Path, worker: _Worker) -> None:
    secret = {**SOURCE, "connection.password": "hunter2"}
    inventory = _inventory(tmp_path, _yaml({"name": "db", "config": secret}), worker.port)
    changes = connectors.planned_changes(_Transport(worker), inventory, _running(inventory))
    connectors.change(worker, inventory, changes[0])
    assert b"hunter2" in worker.stdins[-1]
    out = io.StringIO()
    report = Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
    report.plan(make_plan(desired_state(inventory, None), {}, connectors=changes), show_diff=False)
    shown = out.getvalue()
    assert "[cluster] connector db: create, through the Connect REST API; no worker restart" in shown
    assert f"+ connection.password={MASK}" in shown and "hunter2" not in shown
    report.plan_json(make_plan(desired_state(inventory, None), {}, connectors=changes))
    assert "hunter2" not in out.getvalue()


def test_no_running_worker_plans_every_connector_for_creation_and_an_unanswering_one_is_named(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, _yaml({"name": "lines", "config": SOURCE}), 9)
    assert [c.action for c in connectors.planned_changes(_Transport(_Worker(9)), inventory, {})] == ["create"]
    with pytest.raises(Exception, match=r"the Connect REST API at http://127.0.0.1:9/connectors\?expand=info did not answer"):
        connectors.planned_changes(_Transport(_Worker(9)), inventory, _running(inventory))



def test_a_name_with_url_characters_names_that_connector_only(tmp_path: Path, worker: _Worker) -> None:
    """`lines?x=1` must not reach connector `lines`: the name is encoded whole in every path."""
    _Connect.stored = {"lines": {**SOURCE, "name": "lines"}, "lines?x=1": {**SOURCE, "name": "lines?x=1"}}
    inventory = _inventory(tmp_path, _yaml({"name": "lines?x=1", "config": SOURCE, "state": "absent"}), worker.port)
    changes = connectors.planned_changes(_Transport(worker), inventory, _running(inventory))
    connectors.change(worker, inventory, changes[0])
    assert _Connect.calls[-1][:2] == ("DELETE", "/connectors/lines%3Fx%3D1") and list(_Connect.stored) == ["lines"]
