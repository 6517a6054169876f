"""roles/<component>/role.yml: each component's service, files, directories and restart semantics as data."""

from __future__ import annotations

from functools import cache
from typing import Literal

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict

from kafkactl.model import ClusterVars, Component
from kafkactl.resources import resource_dir


Account = Literal["root", "service"]  # root, or the service's user (as owner) or group


class RoleFile(BaseModel):
    """A managed file. By default configuration: root-owned, readable by the service's group, not writable
    by the service, so the service account cannot change what root later reads and acts on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    template: str
    mode: str = "0640"
    owner: Account = "root"
    group: Account = "service"
    # only with a JAAS file / with local_jmx_port / with log4j (Kafka 3) / with log4j2 (Kafka 4) / with the JMX exporter
    when: Literal["jaas", "local_jmx", "log4j", "log4j2", "jmx_exporter"] | None = None
    restart: bool = True  # whether a change to this file needs the service restarted


class RoleDirectory(BaseModel):
    """A directory prepare creates when missing; `path` may render to several, one per line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    mode: str = "0750"
    owner: Account = "service"
    group: Account = "service"


class RestartSemantics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    order: Literal["one-at-a-time", "followers-then-leader", "followers-then-active"]
    start_together: bool
    serving: str  # gate name: is this member itself up?
    ready: list[str]  # gate names, checked after the service (re)starts
    before_stop: list[str]  # gate names, checked before the service is stopped


class Role(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    component: Component
    description: str
    service: str  # the unit's name, an expression of the cluster's variables
    config: str
    main_class: str
    heap: str
    heap_env: str
    jvm_env: str
    exec_start: str
    local_jmx_port: str | None = None  # JMX for kafkactl's checks, reachable from the host itself only
    directories: list[RoleDirectory]
    state_directories: list[str] = []  # the service's own data: moved aside, never deleted, when it is retired
    files: list[RoleFile]
    restart: RestartSemantics


SYSTEMD_UNITS = "/etc/systemd/system/"


class PackageFile(BaseModel):
    """A file of a packaged service, root-owned: `content` names what kafkactl/monitoring.py writes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    content: str
    mode: str = "0644"


class HttpEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int
    path: str

    def __str__(self) -> str:
        return f"GET :{self.port}{self.path}"


class PackageRole(BaseModel):
    """A monitoring service beside the cluster's JVMs, with its own unit: from a Debian package (Prometheus and its
    exporters), installed with apt-get, or made of kafkactl's files alone (`package: null`, the consumer lag reader);
    configured by kafkactl's files, reloaded when they change, ready when its own HTTP endpoint answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    package: str | None
    service: str
    files: list[PackageFile] = []
    check: list[str] = []  # a command that checks the written files before the service takes them
    ready: HttpEndpoint | None = None  # answers 200 once the service serves (None: a timer, started is ready)

    @property
    def units(self) -> list[str]:
        """Its unit files among its files: systemd reads them again before the service takes them."""
        return [f.path for f in self.files if f.path.startswith(SYSTEMD_UNITS)]


@cache
def package_role(name: str) -> PackageRole:
    path = resource_dir("roles") / name / "role.yml"
    return PackageRole.model_validate({**yaml.safe_load(path.read_text(encoding="utf-8")), "name": name})


@cache
def role(component: Component) -> Role:
    path = resource_dir("roles") / component.value / "role.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Role.model_validate({**data, "component": component})


_EXPRESSIONS = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@cache
def expression(text: str) -> jinja2.Template:
    """A compiled role.yml value such as "{{ cluster.kafka_config_dir }}/server.properties"."""
    return _EXPRESSIONS.from_string(text)


def service_name(component: Component, cluster: ClusterVars) -> str:
    """The systemd unit (without .service) a component runs as in this cluster."""
    return expression(role(component).service).render(cluster=cluster)


def config_path(component: Component, cluster: ClusterVars) -> str:
    """The main configuration file of a component in this cluster."""
    return expression(role(component).config).render(cluster=cluster)
