"""One Report for everything a command tells the user, with meaningful exit codes.

Exit codes: 0 done or nothing to do, 1 error, 2 changes pending (plan). Every line goes through the
masker first, diffs masked by their file's format and JSON documents as data before they are
serialised, so no secret reaches a terminal, a log or a JSON document.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import IntEnum
from typing import Any

from rich.console import Console
from rich.text import Text

from kafkactl.environment import Environment
from kafkactl.masking import Masker
from kafkactl.model import COMPONENTS
from kafkactl.plan import FileChange, Plan, PropertyChange, VersionRoll


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES_PENDING = 2
    UNHEALTHY = 3  # `status`: a service stopped, partitions not in sync, no quorum leader, a key store about to expire


ACTION_STYLES = {
    "create": "green",
    "update": "yellow",
    "install and start": "green",
    "start": "green",
    "restart": "yellow",
    "reload key stores": "cyan",
    "reload": "cyan",
}


class Report:
    def __init__(self, env: Environment, masker: Masker | None = None, *, data_on_stdout: bool = False) -> None:
        """`data_on_stdout`: the command prints a JSON document; lines then go to stderr, so stdout stays that document."""
        self.env = env
        self.mask = masker or Masker()
        self.out = Console(file=env.stdout, color_system="auto" if env.color else None, highlight=False, soft_wrap=True)
        self.err = Console(file=env.stderr, color_system="auto" if env.color else None, highlight=False, soft_wrap=True)
        self.lines_to, self.lines_console = (env.stderr, self.err) if data_on_stdout else (env.stdout, self.out)
        self.exit_code = Exit.OK

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.env.color:
            self.lines_console.print(Text(self.mask(text), style=style or ""))
        else:  # plain output (pipes, CI, files) skips rich's rendering: large plans print fast
            self.lines_to.write(self.mask(text) + "\n")

    def confirmed(self, prompt: str) -> bool:
        """The operator typed yes to the prompt (on the injected stdin)."""
        self.env.stdout.write(prompt)
        self.env.stdout.flush()
        return self.env.stdin.readline().strip() == "yes"

    def warning(self, text: str) -> None:
        self.err.print(Text(f"warning: {self.mask(text)}", style="yellow"))

    def error(self, text: str) -> None:
        self.err.print(Text(f"error: {self.mask(text)}", style="bold red"))
        self.exit_code = Exit.ERROR

    def json(self, document: Any) -> None:
        """Masked as data first, then serialised: escaping can never hide a secret from the masker."""
        masked = self.mask.data(json.loads(json.dumps(document, default=str)))
        self.env.stdout.write(json.dumps(masked, indent=2) + "\n")

    def plan(self, plan: Plan, *, show_diff: bool) -> None:
        mode = "offline: every host taken as empty" if plan.offline else "against the hosts' current state"
        self.line(f"Plan for phase {plan.phase.value} ({mode})", style="bold")
        for index, host in enumerate(plan.hosts, start=1):
            status = "changes" if host.changed else "no changes"
            about = ", ".join([*host.components, *(["prometheus"] if host.prometheus else []), *([host.system] if host.system else [])])
            if host.changed:
                self.line("")
            self.line(f"[{index}/{len(plan.hosts)}] {host.host} ({about}): {status}", style="bold" if host.changed else None)
            for node_id in host.ids:
                self.line(f"  id       {node_id.variable} {node_id.value} ({node_id.source})")
            if host.install:
                self.line(f"  install  {host.install}", style="green")
            for directory in host.directories:
                self.line(f"  dir      {directory} (created, or given its owner and mode)", style="green")
            for change in host.files:
                if change.action == "unchanged":
                    continue
                self.line(f"  {change.action:<8} {change.path} ({change.owner} {change.mode}, {change.size})",
                          style=ACTION_STYLES.get(change.action))
                for prop in change.properties:
                    self.line(f"      {self._property_change(change, prop)}", style=_diff_style("-" if prop.new is None else "+"))
                if show_diff and change.diff:
                    for diff_line in self.mask.diff(change.path, change.diff).splitlines():
                        self.line(f"      {diff_line}", style=_diff_style(diff_line))
            for service in host.services:
                if service.action != "none":
                    self.line(f"  {service.action:<8} {service.name} (ready when: {service.ready})",
                              style=ACTION_STYLES.get(service.action))
        if plan.features or plan.scram_users or plan.connectors or plan.version_roll or plan.secures_znodes:
            self.line("")
        if roll := plan.version_roll:
            self.line(version_roll_line(roll), style="bold")
        for feature in plan.features:
            self.line(f"[cluster] {feature.feature} {feature.live} -> {feature.wanted}: with Kafka's feature tool once every "
                      "host is rolled, no restart; it cannot be moved back", style="bold")
        for user in plan.scram_users:
            self.line(f"[cluster] SCRAM user {user.user} ({user.mechanism}): {user.action}, {user.way}; no restart",
                      style=ACTION_STYLES.get(user.action))
        if plan.secures_znodes:
            self.line("[cluster] the znodes that exist: secured with Kafka's ZkSecurityMigrator (--zookeeper.acl secure) "
                      "through a broker, after the broker roll; no restart", style="bold")
        for connector in plan.connectors:
            self.line(f"[cluster] connector {connector.name}: {connector.action}, through the Connect REST API; no worker restart",
                      style=ACTION_STYLES.get(connector.action))
            for setting in connector.settings:
                self.line(f"      {self._setting_change(setting)}", style=_diff_style("-" if setting.new is None else "+"))
        changed = plan.changed_hosts
        self.line("")
        if changed:
            order = " -> ".join(h.host for h in changed)
            self.line(f"{len(changed)} of {len(plan.hosts)} hosts to change, in this order: {order}", style="bold")
            self.line("Restarts go one host at a time; within a component the leader goes last (the ZooKeeper leader, "
                      "the active controller), as found when its turn comes.")
        if plan.changed:
            self.exit_code = Exit.CHANGES_PENDING
        else:
            self.line(f"Nothing to do: all {len(plan.hosts)} hosts match the inventory.", style="bold green")

    def restart_plan(self, states, components, resuming) -> None:
        self.line("Restart plan: one host at a time; a gate not met stops the run and restarts nothing else", style="bold")
        if resuming:
            done = sorted({e.host for e in resuming.entries if e.status == "done"})
            self.line(f"Resuming {resuming.run_id}: already done on {', '.join(done) or 'no host'}")
        for component in (c for c in COMPONENTS if c in components):
            members = [s for s in states if component in s.components]
            if not members:
                continue
            semantics = next(svc for svc in members[0].services if svc.component == component).role.restart
            self.line(f"  {component.value}: {', '.join(s.host.name for s in members)} (order: {semantics.order})")
            self.line(f"    before stop: {', '.join(semantics.before_stop) or 'none'}; ready when: {', '.join(semantics.ready)}")

    def summary(self, outcomes: dict, done: str = "Applied") -> None:
        self.line("")
        self.line("Summary", style="bold")
        for host, outcome in outcomes.items():
            changes = [f"{len(outcome.files)} files written"] if outcome.files else []
            self.line(f"  {host}: {', '.join(changes + outcome.services)}")
        self.line(f"{done}: {len(outcomes)} hosts changed.", style="bold green")

    def _masked(self, prop: PropertyChange) -> tuple[str | None, str | None]:
        """Old and new value, each masked by the property's key."""
        return tuple(None if value is None else self.mask.property_value(prop.key, value)  # type: ignore[return-value]
                     for value in (prop.old, prop.new))

    def _property_change(self, change: FileChange, prop: PropertyChange) -> str:
        """One property as a line: added, changed (old -> new) or dropped, with the inventory line that keeps it."""
        if prop.new is None:
            return (f"{self._setting_change(prop)}  (to keep it: {change.component.value}_custom_properties: "
                    f"{{{json.dumps(prop.key)}: {json.dumps(self._masked(prop)[0])}}})")
        return self._setting_change(prop)

    def _setting_change(self, prop: PropertyChange) -> str:
        """One setting as a line, masked: added, changed (old -> new) or dropped."""
        old, new = self._masked(prop)
        if old is None:
            return f"+ {prop.key}={new}"
        if new is None:
            return f"- {prop.key}={old}"
        return f"~ {prop.key}: {old} -> {new}"

    def plan_json(self, plan: Plan) -> None:
        hosts = []
        for host in plan.hosts:
            document = {**asdict(host), "changed": host.changed}
            for change, file in zip(host.files, document["files"]):
                # Masked by key here, where the key is known: the generic masker sees only "old" and "new".
                file["properties"] = [dict(zip(("key", "old", "new"), (p.key, *self._masked(p)))) for p in change.properties]
            hosts.append(document)
        self.json({"phase": plan.phase.value, "offline": plan.offline,
                   "changed_hosts": [h.host for h in plan.changed_hosts], "hosts": hosts,
                   "features": [asdict(f) for f in plan.features], "scram_users": [asdict(u) for u in plan.scram_users],
                   "connectors": [{"name": c.name, "action": c.action,
                                   "settings": [dict(zip(("key", "old", "new"), (p.key, *self._masked(p)))) for p in c.settings]}
                                  for c in plan.connectors],
                   "version_roll": None if plan.version_roll is None else {
                       **asdict(plan.version_roll), "back": plan.version_roll.back, "text": version_roll_line(plan.version_roll)}})
        if plan.changed:
            self.exit_code = Exit.CHANGES_PENDING


def version_roll_line(roll: VersionRoll) -> str:
    """What a version roll does and how it is undone, in the operator's words."""
    hosts = f"{len(roll.hosts)} host{'s' if len(roll.hosts) != 1 else ''}"
    head = f"[cluster] Kafka {', '.join(roll.running)} -> {roll.wanted} on {hosts}"
    kept = f"{roll.protocol} stays where the cluster has it ({roll.moved_by})"
    if roll.back:
        return f"{head}: a roll back onto {roll.wanted}, in the order below, possible while the protocol has not moved; {kept}."
    return (f"{head}: {roll.wanted} installed beside the running release, then a roll onto it in the order below; {kept}. "
            f"Reversible until the protocol moves: kafka_version {roll.running[-1]} rolls back the same way.")


def _diff_style(line: str) -> str | None:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return None
