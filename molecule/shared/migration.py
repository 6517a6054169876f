"""The steps a scenario runs, one at a time: `python3 migration.py step DIR STEP` (side_effect.yml).

A scenario with steps names them in KAFKACTL_SCENARIO_STEPS (its molecule.yml), for instance
`refusals dual-write kraft-brokers finalize`. The steps of a migration:

- `dual-write`, `kraft-brokers`, `finalize`, `rollback`: `kafkactl migrate kraft MIGRATION_INVENTORY --phase
  STEP` (`--yes`; finalize `--confirm-cluster-id` with the id recorded when seeding). It must exit 0
  and end in the phase's state (2a, 2b, 3, 1), else the step fails: nothing after it would mean anything.
- `refusals` (state 1): `--phase finalize` and `--phase kraft-brokers`, then `--phase dual-write` with
  the cluster id in one broker's meta.properties rewritten on disk (the broker keeps running; the file
  is restored afterwards). Each must be refused; a fingerprint of every host (managed files with owner
  and mode, meta.properties, services' PIDs and start times, /opt) is taken before and after.
- `check`: the state after a rollback: `--status`, `kafkactl plan ZK_INVENTORY`, the seeded data
  (kafka_data.py) and a canary checkpoint (canary.py).

The steps of an upgrade (inventories written by prepare.yml):

- `upgrade`: `kafkactl plan upgrade.yml` (the roll onto the new version), `kafkactl plan metadata-version.yml`
  (refused: a version and a protocol change in one apply), `kafkactl apply upgrade.yml`, then
  `kafkactl status upgrade.yml --json`. The apply must exit 0.
- `metadata-version`: `kafkactl apply metadata-version.yml` (metadata.version raised, no restart), the same
  apply again (nothing to do), then `kafkactl status metadata-version.yml --json`. Both applies must exit 0.

The steps of a listener migration (the cluster, in ZooKeeper or KRaft mode, from PLAINTEXT to the target
`secured.yml`, which prepare.yml writes with the key stores of kafkactl's CA):

- `listeners-add`, `listeners-authorizer`, `listeners-inter-broker`, `listeners-remove`: `kafkactl migrate listeners
  secured.yml --phase PHASE --yes`, which must exit 0, then `--status --json`; `listeners-add` first has `kafkactl
  plan secured.yml` refused (one roll cannot make the change) and `--phase remove` refused (out of turn).
- `move-clients` (half-way): the SCRAM user `canary` is granted ACLs on the canary's topics and groups (by `admin`,
  over SASL_SSL), the canary moves onto SASL_SSL as `canary`, and the scenario's clients (the verifier, the data
  check) as `admin` (`clients.json`); then `--status --json` counts each listener's connections.
- `renew-certificates`: `kafkactl certs renew` for every broker, `kafkactl plan` (key stores reloaded, no restart),
  `kafkactl apply`.
- `rotate-ca`: `kafkactl certs rotate-ca --step` trust-new-ca, sign-with-new-ca, drop-old-ca, each followed by
  `kafkactl apply`; the clients trust both CAs from the first step on (the canary moves onto the bundle) and the
  new one alone after the last. The CA before the rotation is kept as `old-ca.crt` for the verifier.

Every step appends what it saw to DIR/migration/steps.json and writes kafkactl's output to
DIR/migration/NN-STEP.log; tests/test_migration.py and tests/test_upgrade.py assert on those records and
on the final state.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from kafkactl.components.properties import parse_properties as properties

HERE = Path(__file__).resolve().parent
PHASES = {"dual-write": "2a", "kraft-brokers": "2b", "finalize": "3", "rollback": "1"}
UPGRADES = {"upgrade": "upgrade.yml", "metadata-version": "metadata-version.yml"}
"""Each upgrade step and the inventory it applies."""
LISTENER_PHASES = {f"listeners-{p}": p for p in ("add", "authorizer", "inter-broker", "remove")}
LISTENER_STEPS = (*LISTENER_PHASES, "move-clients", "renew-certificates", "rotate-ca")
SECURED = "secured.yml"
"""A listener migration's target inventory."""
CLIENTS = "clients.json"
"""The scenario's clients' librdkafka settings once they moved off PLAINTEXT (the canary's: canary-client.json)."""
STEPS = (*PHASES, "refusals", "check", *UPGRADES, *LISTENER_STEPS)
STATE_LINE = re.compile(r"^Migration: (?:now )?(state (\S+?): .*|between state .*)$", re.MULTILINE)
META_PROPERTIES = "/var/lib/kafka/data/meta.properties"


def final_render(steps: list[str]) -> tuple[str, str | None]:
    """The inventory (file name in the ephemeral directory) and `--phase` that describe the hosts after `steps`."""
    changes = [s for s in steps if s in PHASES or s in UPGRADES or s in LISTENER_STEPS]
    last = changes[-1] if changes else "rollback"
    if last in UPGRADES:
        return UPGRADES[last], None
    if last in LISTENER_STEPS:
        return SECURED, None
    return ("inventory.yml", None) if last == "rollback" else ("migration.yml", last)


def is_migration(steps: list[str]) -> bool:
    return any(s in PHASES or s in ("refusals", "check") for s in steps)


def final_state(steps: list[str]) -> str:
    phases = [s for s in steps if s in PHASES]
    return PHASES[phases[-1]] if phases else "1"


class Scenario:
    """The files prepare.yml and converge.yml left in the scenario's ephemeral directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.inventory = directory / "inventory.yml"
        self.migration_inventory = directory / "migration.yml"
        self.ssh_config = directory / "ssh_config"
        self.records = directory / "migration" / "steps.json"

    @property
    def seeded(self) -> dict:
        return json.loads((self.directory / "seed.json").read_text())

    def groups(self, inventory: Path | None = None) -> dict[str, list[str]]:
        """The groups of `inventory`; by default of the inventory with every host (a migration's, else inventory.yml)."""
        default = self.migration_inventory if self.migration_inventory.exists() else self.inventory
        data = yaml.safe_load((inventory or default).read_text())
        return {group: list(body.get("hosts") or {}) for group, body in data["all"]["children"].items()}

    def hosts(self) -> list[str]:
        return [h for members in self.groups().values() for h in members]

    def bootstrap(self, inventory: Path | None = None, protocol: str = "PLAINTEXT") -> str:
        """The brokers' advertised client endpoints of `protocol` (not the inter-broker listener) in `inventory`
        (inventory.yml by default), from `kafkactl render`."""
        inventory = inventory or self.inventory
        endpoints = []
        with tempfile.TemporaryDirectory() as out:
            kafkactl("render", str(inventory), "--out", out)
            for broker in self.groups(inventory)["kafka_broker"]:
                props = properties((Path(out) / broker / "etc/kafka/server.properties").read_text())
                protocols = dict(i.split(":", 1) for i in props.get("listener.security.protocol.map", "").split(",") if i)
                advertised = [s.split("://", 1) for s in (props.get("advertised.listeners") or props["listeners"]).split(",")]
                endpoints.append(next(e for name, e in advertised if name != props.get("inter.broker.listener.name")
                                      and protocols.get(name, name) == protocol))
        return ",".join(endpoints)

    def client(self) -> dict[str, str]:
        """The librdkafka settings of the scenario's clients: the PLAINTEXT endpoints until `move-clients` moved them."""
        path = self.directory / CLIENTS
        return json.loads(path.read_text()) if path.exists() else {"bootstrap.servers": self.bootstrap()}

    @property
    def pki(self) -> Path:
        """kafkactl's CA and certificates (`kafkactl certs create`), in the state directory beside the inventory."""
        return self.directory / ".kafkactl" / "pki"

    def scram_user(self, name: str) -> dict[str, str]:
        """librdkafka settings of SCRAM user `name` of the target (secured.yml) on its SASL_SSL listener."""
        target = self.directory / SECURED
        users = yaml.safe_load(target.read_text())["all"]["vars"]["sasl_scram_users"]
        return {"bootstrap.servers": self.bootstrap(target, "SASL_SSL"), "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": users[name]["principal"],
                "sasl.password": users[name]["password"], "ssl.ca.location": str(self.pki / "ca.crt")}

    def ssh(self, host: str, command: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ssh", "-F", str(self.ssh_config), host, command], input=stdin, capture_output=True,
                                text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"ssh {host} {command!r}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def fingerprint(self) -> dict[str, list[str]]:
        """What a refused step must not change on any host."""
        script = r"""
for f in /etc/kafka/* /etc/systemd/system/kafka-*.service /var/lib/zookeeper/myid /var/lib/kafka/*/meta.properties; do
  [ -f "$f" ] && printf 'file %s %s %s\n' "$f" "$(stat -c '%U:%G:%a' "$f")" "$(sha256sum < "$f" | cut -c1-16)"
done
for s in kafka-zookeeper kafka-controller kafka-broker; do
  printf 'service %s %s\n' "$s" "$(systemctl show -p ActiveState -p MainPID -p ExecMainStartTimestampMonotonic --value "$s" | tr '\n' ' ')"
done
printf 'opt %s\n' "$(ls /opt | tr '\n' ' ')"
"""
        with ThreadPoolExecutor(max_workers=9) as pool:
            outputs = dict(zip(self.hosts(), pool.map(lambda h: self.ssh(h, script).stdout.splitlines(), self.hosts())))
        return outputs

    def recorded(self, step: str | None = None) -> list[dict]:
        """What the steps run so far recorded (those named `step`, when given)."""
        records = json.loads(self.records.read_text()) if self.records.exists() else []
        return [r for r in records if step in (None, r["step"])]

    def record(self, entry: dict) -> None:
        self.records.write_text(json.dumps([*self.recorded(), entry], indent=1))

    def next_number(self) -> int:
        """The number of the step being run (1 for the first)."""
        return len(self.recorded()) + 1

    def log(self, step: str, text: str) -> Path:
        path = self.records.parent / f"{self.next_number():02d}-{step}.log"
        path.write_text(text)
        return path


def kafkactl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkactl", *args], capture_output=True, text=True, timeout=1200,
                          check=False, stdin=subprocess.DEVNULL)


def run_kafkactl(*args: str) -> dict:
    started = time.monotonic()
    result = kafkactl(*args)
    states = STATE_LINE.findall(result.stdout)
    return {
        "command": "kafkactl " + " ".join(shlex.quote(a) for a in args),
        "exit": result.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "state": states[-1][1] if states and states[-1][1] else None,
        "state_line": states[-1][0] if states else None,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def status(scenario: Scenario) -> dict:
    return run_kafkactl("migrate", "kraft", str(scenario.migration_inventory), "--status")


def _brief(outcome: dict) -> str:
    errors = [line for line in outcome["stderr"].splitlines() if line.startswith("error")]
    return (f"{outcome['command']}: exit {outcome['exit']} in {outcome['seconds']} s"
            + (f"; {outcome['state_line']}" if outcome["state_line"] else "")
            + "".join(f"\n  {line}" for line in errors))


def phase(scenario: Scenario, step: str) -> dict:
    confirm = ["--confirm-cluster-id", scenario.seeded["cluster_id"]] if step == "finalize" else ["--yes"]
    outcome = run_kafkactl("migrate", "kraft", str(scenario.migration_inventory), "--phase", step, *confirm)
    outcome["expected_state"] = PHASES[step]
    return outcome


def refusals(scenario: Scenario) -> dict:
    inventory = str(scenario.migration_inventory)
    cluster_id = scenario.seeded["cluster_id"]
    before = scenario.fingerprint()
    outcomes = {
        "finalize": run_kafkactl("migrate", "kraft", inventory, "--phase", "finalize", "--confirm-cluster-id", cluster_id),
        "kraft-brokers": run_kafkactl("migrate", "kraft", inventory, "--phase", "kraft-brokers", "--yes"),
    }
    # A cluster id mismatch made on purpose: one broker's meta.properties names another cluster on disk while
    # the broker keeps running with the right one.
    broker = scenario.groups()["kafka_broker"][-1]
    original = scenario.ssh(broker, f"cat {META_PROPERTIES}").stdout
    fake = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
    tampered = re.sub(r"^cluster\.id=.*$", f"cluster.id={fake}", original, flags=re.MULTILINE)
    assert tampered != original, f"{broker}:{META_PROPERTIES} has no cluster.id:\n{original}"
    try:
        scenario.ssh(broker, f"cat > {META_PROPERTIES}", stdin=tampered)
        outcomes["dual-write"] = run_kafkactl("migrate", "kraft", inventory, "--phase", "dual-write", "--yes")
    finally:
        scenario.ssh(broker, f"cat > {META_PROPERTIES}", stdin=original)
    restored = scenario.ssh(broker, f"cat {META_PROPERTIES}").stdout == original
    after = scenario.fingerprint()
    changed = {host: sorted(set(before[host]) ^ set(after[host])) for host in before if before[host] != after[host]}
    return {"refused": outcomes, "mismatch": {"host": broker, "path": META_PROPERTIES, "fake_cluster_id": fake,
                                              "restored": restored},
            "hosts_changed": changed, "status": status(scenario)}


def check(scenario: Scenario) -> dict:
    found = {"status": status(scenario),
             "zookeeper_plan": run_kafkactl("plan", str(scenario.inventory))}
    data = subprocess.run([sys.executable, str(HERE / "kafka_data.py"), "check", str(scenario.directory)],
                          capture_output=True, text=True, timeout=600, check=False)
    found["data"] = json.loads(data.stdout) if data.stdout.strip() else {"ok": False, "problems": [data.stderr[-3000:]]}
    # One checkpoint per check: the canary answers a name it has answered before with its old report.
    name = f"check-{scenario.next_number():02d}"
    canary = subprocess.run([sys.executable, str(HERE / "canary.py"), "checkpoint", str(scenario.directory), name],
                            capture_output=True, text=True, timeout=600, check=False)
    found["canary"] = json.loads(canary.stdout) if canary.stdout.strip() else {"lost": None, "error": canary.stderr[-3000:]}
    return found


def upgrade(scenario: Scenario) -> dict:
    new_version, raised = (str(scenario.directory / UPGRADES[s]) for s in ("upgrade", "metadata-version"))
    return {"plan": run_kafkactl("plan", new_version),
            "both_at_once": run_kafkactl("plan", raised),
            "apply": run_kafkactl("apply", new_version),
            "status": run_kafkactl("status", new_version, "--json")}


def metadata_version(scenario: Scenario) -> dict:
    raised = str(scenario.directory / UPGRADES["metadata-version"])
    return {"apply": run_kafkactl("apply", raised),
            "again": run_kafkactl("apply", raised),
            "status": run_kafkactl("status", raised, "--json")}


def listener_phase(scenario: Scenario, name: str) -> tuple[dict, list[str]]:
    target = str(scenario.directory / SECURED)
    found, problems = {}, []
    if name == "listeners-add":
        found["one_apply"] = run_kafkactl("plan", target)
        if found["one_apply"]["exit"] != 1 or "migrate listeners" not in found["one_apply"]["stderr"]:
            problems.append("kafkactl plan of the target was not refused pointing at migrate listeners")
        found["out_of_turn"] = run_kafkactl("migrate", "listeners", target, "--phase", "remove", "--yes")
        if found["out_of_turn"]["exit"] != 1:
            problems.append("--phase remove ran before --phase add")
    found["phase"] = run_kafkactl("migrate", "listeners", target, "--phase", LISTENER_PHASES[name], "--yes")
    found["status"] = run_kafkactl("migrate", "listeners", target, "--status", "--json")
    problems += [f"{o['command']}: exit {o['exit']}" for o in (found["phase"], found["status"]) if o["exit"] != 0]
    return found, problems


# The canary's topics and consumer groups (its own, and its read-back's): what its SCRAM user is granted.
CANARY_GRANTS = (("TOPIC", "kafkactl-canary-"), ("GROUP", "kafkactl-canary-"), ("GROUP", "verify-"))


def _move_clients(scenario: Scenario, trusting: Path) -> dict:
    """The scenario's clients as `admin` and the canary as `canary`, on SASL_SSL, trusting the CAs in `trusting`."""
    for user, file in (("admin", CLIENTS), ("canary", "canary-client.json")):
        settings = {**scenario.scram_user(user), "ssl.ca.location": str(trusting)}
        (scenario.directory / file).write_text(json.dumps(settings, indent=1))
    moved = subprocess.run([sys.executable, str(HERE / "canary.py"), "move", str(scenario.directory),
                            str(scenario.directory / "canary-client.json")], capture_output=True, text=True, timeout=600, check=False)
    return json.loads(moved.stdout) if moved.returncode == 0 else {"moved": False, "error": moved.stderr[-3000:]}


def move_clients(scenario: Scenario) -> tuple[dict, list[str]]:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType

    admin = AdminClient(scenario.scram_user("admin"))
    grants = [AclBinding(ResourceType[kind], name, ResourcePatternType.PREFIXED, "User:canary", "*", AclOperation.ALL,
                         AclPermissionType.ALLOW) for kind, name in CANARY_GRANTS]
    for future in admin.create_acls(grants).values():
        future.result(60)
    found = {"granted": [f"{kind} {name}*" for kind, name in CANARY_GRANTS],
             "canary": _move_clients(scenario, scenario.pki / "ca.crt"),
             # the brokers count the moved clients' connections per listener, as --phase remove needs to know
             "status": run_kafkactl("migrate", "listeners", str(scenario.directory / SECURED), "--status", "--json")}
    return found, [] if found["canary"].get("moved") else [f"the canary did not move: {found['canary']}"]


def renew_certificates(scenario: Scenario) -> tuple[dict, list[str]]:
    target = str(scenario.directory / SECURED)
    brokers = scenario.groups(scenario.directory / SECURED)["kafka_broker"]
    found = {"renew": run_kafkactl("certs", "renew", target, *(f"--host={b}" for b in brokers)),
             "plan": run_kafkactl("plan", target),
             "apply": run_kafkactl("apply", target),
             "again": run_kafkactl("apply", target)}
    return found, [f"{o['command']}: exit {o['exit']}" for key, o in found.items() if o["exit"] != (2 if key == "plan" else 0)]


ROTATION = ("trust-new-ca", "sign-with-new-ca", "drop-old-ca")


def rotate_ca(scenario: Scenario) -> tuple[dict, list[str]]:
    target = str(scenario.directory / SECURED)
    shutil.copy(scenario.pki / "ca.crt", scenario.directory / "old-ca.crt")
    found, problems = {}, []
    for number, rotation in enumerate(ROTATION, 1):
        found[rotation] = run_kafkactl("certs", "rotate-ca", target, "--step", rotation)
        found[f"apply after {rotation}"] = run_kafkactl("apply", target)
        problems += [f"{o['command']}: exit {o['exit']}" for o in (found[rotation], found[f"apply after {rotation}"]) if o["exit"]]
        if problems:
            break
        if rotation != "sign-with-new-ca":  # clients trust what the brokers trust: both CAs, then the new one alone
            bundle = scenario.directory / f"client-ca-{number}.pem"
            bundle.write_bytes(b"".join(p.read_bytes() for p in sorted(scenario.pki.glob("*ca.crt"))))
            found[f"clients after {rotation}"] = _move_clients(scenario, bundle)
            if not found[f"clients after {rotation}"].get("moved"):
                problems.append(f"the canary did not move onto {bundle.name}")
    return found, problems


LISTENER_RUNNERS = {**dict.fromkeys(LISTENER_PHASES, listener_phase), "move-clients": lambda s, _: move_clients(s),
                    "renew-certificates": lambda s, _: renew_certificates(s), "rotate-ca": lambda s, _: rotate_ca(s)}


def step(scenario: Scenario, name: str) -> int:
    scenario.records.parent.mkdir(parents=True, exist_ok=True)
    failed = next((r for r in scenario.recorded() if r.get("failed")), None)
    if failed:  # the steps run in a loop that does not stop by itself: nothing after a failed step means anything
        print(f"not run: step {failed['step']} failed before; see {failed['log']}", file=sys.stderr)
        return 1
    started = time.monotonic()
    if name in PHASES:
        outcome = phase(scenario, name)
        path = scenario.log(name, outcome["stdout"] + outcome["stderr"])
        bad = outcome["exit"] != 0 or outcome["state"] != PHASES[name]
        scenario.record({"step": name, **outcome, "failed": bad, "log": str(path)})
        print(_brief(outcome))
        print("\n".join(outcome["stdout"].splitlines()[-8:]))
        if bad:
            # molecule test prunes the ephemeral directory after a failure: the end of the output goes with the error.
            print(f"--phase {name} did not end in state {PHASES[name]}; full output in {path}", file=sys.stderr)
            print("\n".join(outcome["stdout"].splitlines()[-40:]), file=sys.stderr)
            print(outcome["stderr"][-4000:], file=sys.stderr)
            return 1
        return 0
    if name == "refusals":
        found = refusals(scenario)
        text = "\n\n".join(f"$ {o['command']}\n{o['stdout']}{o['stderr']}" for o in [*found["refused"].values(), found["status"]])
        path = scenario.log(name, text)
        bad = any(o["exit"] == 0 for o in found["refused"].values())
        scenario.record({"step": name, "seconds": round(time.monotonic() - started, 1), **found, "failed": bad,
                         "log": str(path)})
        for outcome in found["refused"].values():
            print(_brief(outcome))
        print(f"hosts changed: {found['hosts_changed'] or 'none'}; {found['status']['state_line']}")
        if bad:
            print(f"a step that must be refused ran; see {path}", file=sys.stderr)
            return 1
        return 0
    if name == "check":
        found = check(scenario)
        text = "\n\n".join(f"$ {o['command']}\n{o['stdout']}{o['stderr']}" for o in (found["status"], found["zookeeper_plan"]))
        path = scenario.log(name, text)
        scenario.record({"step": name, "seconds": round(time.monotonic() - started, 1), **found, "log": str(path)})
        print(f"{found['status']['state_line']}; plan {scenario.inventory.name}: exit {found['zookeeper_plan']['exit']}; "
              f"data: {'intact' if found['data'].get('ok') else found['data'].get('problems')}; canary: "
              f"{found['canary'].get('lost')} of {found['canary'].get('acknowledged')} acknowledged messages lost")
        return 0
    if name in UPGRADES:
        found = upgrade(scenario) if name == "upgrade" else metadata_version(scenario)
        path = scenario.log(name, "\n\n".join(f"$ {o['command']}\n{o['stdout']}{o['stderr']}" for o in found.values()))
        applies = [o for key, o in found.items() if key in ("apply", "again")]
        bad = any(o["exit"] != 0 for o in applies)
        scenario.record({"step": name, "seconds": round(time.monotonic() - started, 1), **found, "failed": bad,
                         "log": str(path)})
        for outcome in found.values():
            print(_brief(outcome))
        if bad:
            print(f"an apply of step {name} failed; full output in {path}", file=sys.stderr)
            for outcome in applies:
                print("\n".join(outcome["stdout"].splitlines()[-40:]), file=sys.stderr)
                print(outcome["stderr"][-4000:], file=sys.stderr)
            return 1
        return 0
    if name in LISTENER_RUNNERS:
        found, problems = LISTENER_RUNNERS[name](scenario, name)
        runs = [o for o in found.values() if isinstance(o, dict) and "command" in o]
        path = scenario.log(name, "\n\n".join(f"$ {o['command']}\n{o['stdout']}{o['stderr']}" for o in runs))
        scenario.record({"step": name, "seconds": round(time.monotonic() - started, 1), **found, "problems": problems,
                         "failed": bool(problems), "log": str(path)})
        for outcome in runs:
            print(_brief(outcome))
        if problems:
            print(f"step {name}: {'; '.join(problems)}; full output in {path}", file=sys.stderr)
            for outcome in runs:
                if outcome["exit"]:
                    print("\n".join(outcome["stdout"].splitlines()[-40:]), file=sys.stderr)
                    print(outcome["stderr"][-4000:], file=sys.stderr)
            return 1
        return 0
    raise SystemExit(f"unknown step {name!r}: one of {', '.join(STEPS)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("step", help="run one step and record it")
    one.add_argument("directory", type=Path)
    one.add_argument("name", choices=STEPS)
    boot = sub.add_parser("bootstrap", help="print the brokers' client endpoints")
    boot.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    scenario = Scenario(args.directory)
    if args.command == "bootstrap":
        print(scenario.bootstrap())
        return 0
    return step(scenario, args.name)


if __name__ == "__main__":
    sys.exit(main())
