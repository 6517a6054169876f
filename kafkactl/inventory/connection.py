"""Ansible's connection variables, read as Ansible and OpenSSH read them, into a Host's connection fields.

Every variable and ssh option that changes how a host is reached is either honoured or refused by
name: kafkactl logs in as root, so a setting it silently dropped could send it somewhere else, or
with weaker checks, than the inventory says.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

# Ansible variable -> Host field; later names in Ansible's alias lists lose to earlier ones.
CONNECTION_VARIABLES = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "ssh_port",
    "ansible_ssh_port": "ssh_port",
    "ansible_user": "ssh_user",
    "ansible_ssh_user": "ssh_user",
    "ansible_ssh_private_key_file": "ssh_private_key_file",
    "ansible_private_key_file": "ssh_private_key_file",
    "ansible_password": "ssh_password",
    "ansible_ssh_pass": "ssh_password",
    "ansible_ssh_password": "ssh_password",
    "ansible_timeout": "ssh_connect_timeout",
    "ansible_ssh_timeout": "ssh_connect_timeout",
    "ansible_become": "become",
    "ansible_become_method": "become_method",
    "ansible_become_password": "become_password",
    "ansible_become_pass": "become_password",
}
# The ssh command-line arguments Ansible adds, in the order it puts them on ssh's command line
# (OpenSSH takes the first value of an option).
SSH_ARGS_VARIABLES = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
HOST_KEY_CHECKING_VARIABLES = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
OTHER_VARIABLES = ("ansible_connection", "ansible_become_user")
# Variables that change how Ansible reaches or becomes root on a host, which kafkactl cannot honour.
REFUSED_VARIABLES = {
    "ansible_become_exe": "kafkactl runs sudo or su from the PATH",
    "ansible_become_flags": "kafkactl passes its own flags to sudo and su",
    "ansible_ssh_executable": "kafkactl speaks SSH itself (paramiko)",
    "ansible_sftp_extra_args": "kafkactl's SFTP takes no extra arguments",
    "ansible_scp_extra_args": "kafkactl copies files over SFTP",
}
SUPPORTED_VARIABLES = (*CONNECTION_VARIABLES, *SSH_ARGS_VARIABLES, *HOST_KEY_CHECKING_VARIABLES, *OTHER_VARIABLES)

# ssh -o options kafkactl honours -> Host field.
SSH_OPTIONS = {
    "proxyjump": "ssh_proxy_jump",
    "proxycommand": "ssh_proxy_command",
    "stricthostkeychecking": "ssh_host_key_checking",
    "userknownhostsfile": "ssh_known_hosts",
    "port": "ssh_port",
    "user": "ssh_user",
    "identityfile": "ssh_private_key_file",
    "connecttimeout": "ssh_connect_timeout",
    "identitiesonly": "ssh_identities_only",
    "compression": "ssh_compression",
    "serveraliveinterval": "ssh_server_alive_interval",
}
# Options about OpenSSH's connection sharing: kafkactl keeps one connection per host anyway.
SHARING_OPTIONS = {"controlmaster", "controlpersist", "controlpath"}
SSH_FLAGS_WITH_VALUE = {"-J": "proxyjump", "-p": "port", "-l": "user", "-i": "identityfile"}
HOST_KEY_CHECKING = {"yes": "yes", "ask": "yes", "true": "yes", "accept-new": "accept-new", "no": "no", "off": "no", "false": "no"}
TRUE_WORDS = {"yes", "true", "on", "1"}
FALSE_WORDS = {"no", "false", "off", "0"}

Report = Callable[[str, str], None]  # (variable, message)


class ConnectionSettingError(ValueError):
    """One connection variable or ssh option kafkactl refuses; the message names it."""


def connection_fields(variables: dict[str, Any], error: Report, warn: Report) -> dict[str, Any]:
    """The Host fields the ansible_* variables set, reporting each refused one through `error`."""
    fields: dict[str, Any] = {}
    for key, value in variables.items():
        if key in REFUSED_VARIABLES:
            error(key, f"{key} is not supported: {REFUSED_VARIABLES[key]}")
    connection = variables.get("ansible_connection")
    if connection is not None and connection not in ("ssh", "paramiko", "smart"):
        error("ansible_connection", f"ansible_connection {connection!r} is not supported: kafkactl connects over SSH")
    become_user = variables.get("ansible_become_user")
    if become_user is not None and become_user != "root":
        error("ansible_become_user", f"ansible_become_user {become_user!r} is not supported: kafkactl works as root")

    from_args: dict[str, Any] = {}
    for key in SSH_ARGS_VARIABLES:
        if variables.get(key):
            try:
                options = parse_ssh_args(str(variables[key]), warn=lambda message, key=key: warn(key, f"{key}: {message}"))
            except ConnectionSettingError as exc:
                error(key, f"{key}: {exc}")
                continue
            for field, value in options.items():
                from_args.setdefault(field, value)
    # A variable of its own wins over the same setting inside the ssh arguments.
    fields.update(from_args)
    for key in HOST_KEY_CHECKING_VARIABLES:
        if key in variables:
            fields["ssh_host_key_checking"] = "no" if ansible_boolean(variables[key]) is False else "yes"
    for key, field in CONNECTION_VARIABLES.items():
        if key in variables and not _set_by_earlier_alias(variables, key, field):
            fields[field] = _connection_value(field, variables[key])
    if isinstance(fields.get("address"), str):
        fields["address"] = unbracketed(fields["address"])
    if fields.get("become_method") not in (None, "sudo", "su"):
        error("ansible_become_method", f"ansible_become_method {fields.pop('become_method')!r} is not supported (sudo or su)")
    if fields.get("become_method") == "su" and fields.get("become") and not fields.get("become_password"):
        error("ansible_become_method", "ansible_become_method su needs ansible_become_password (root's password)")
    return fields


def _set_by_earlier_alias(variables: dict[str, Any], key: str, field: str) -> bool:
    aliases = [k for k, f in CONNECTION_VARIABLES.items() if f == field]
    return any(alias in variables for alias in aliases[: aliases.index(key)])


def _connection_value(field: str, value: Any) -> Any:
    if field == "become":
        boolean = ansible_boolean(value)
        return value if boolean is None else boolean
    if field in ("ssh_password", "become_password", "ssh_private_key_file", "address", "ssh_user"):
        return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value
    return value


def ansible_boolean(value: Any) -> bool | None:
    """A value as Ansible's `bool` filter reads it (true, yes, on, 1 ...); None when it is no boolean."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def unbracketed(address: str) -> str:
    """An IPv6 address as written in brackets ([2001:db8::1]) without them."""
    return address[1:-1] if address.startswith("[") and address.endswith("]") else address


def parse_ssh_args(text: str, warn: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """ssh command-line arguments (`-o Key=Value`, `-J`, `-p`, `-l`, `-i`, `-C`) as Host fields.

    OpenSSH takes the first value given for an option; so does this. Anything else is refused."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConnectionSettingError(f"cannot be split into arguments: {exc}") from None
    fields: dict[str, Any] = {}
    index = 0
    while index < len(words):
        word = words[index]
        flag, attached = word[:2], word[2:]
        if flag == "-o" or flag in SSH_FLAGS_WITH_VALUE:
            if not attached:
                index += 1
                if index >= len(words):
                    raise ConnectionSettingError(f"{flag} needs a value")
                attached = words[index]
            key, value = _option(attached) if flag == "-o" else (SSH_FLAGS_WITH_VALUE[flag], attached)
            if key in SHARING_OPTIONS:
                warn(f"-o {attached}: kafkactl keeps one SSH connection per host; ignored")
            else:
                fields.setdefault(SSH_OPTIONS[key], _option_value(key, value))
        elif word == "-C":
            fields.setdefault("ssh_compression", True)
        else:
            raise ConnectionSettingError(f"ssh argument {word} is not supported by kafkactl")
        index += 1
    return fields


def _option(text: str) -> tuple[str, str]:
    """-o Key=Value (or "Key Value"): the key lower-cased, refused by name unless kafkactl honours it."""
    match = re.match(r"^\s*([A-Za-z]*)\s*(?:=\s*|\s+|$)(.*?)\s*$", text)
    name = match.group(1) if match else ""
    if not name:
        raise ConnectionSettingError(f"-o {text}: expected Key=Value")
    if name.lower() not in SSH_OPTIONS and name.lower() not in SHARING_OPTIONS:
        raise ConnectionSettingError(f"ssh option {name} is not supported by kafkactl")
    if not match.group(2):
        raise ConnectionSettingError(f"-o {text}: expected Key=Value")
    return name.lower(), match.group(2)


def _option_value(key: str, value: str) -> Any:
    if key == "proxyjump":
        return () if value.lower() == "none" else tuple(hop.strip() for hop in value.split(","))
    if key == "proxycommand":
        return None if value.lower() == "none" else value
    if key == "stricthostkeychecking":
        if value.lower() not in HOST_KEY_CHECKING:
            raise ConnectionSettingError(f"StrictHostKeyChecking {value!r} is not one of yes, accept-new, no")
        return HOST_KEY_CHECKING[value.lower()]
    if key == "userknownhostsfile":
        return tuple(shlex.split(value))
    if key in ("identitiesonly", "compression"):
        boolean = ansible_boolean(value)
        if boolean is None:
            raise ConnectionSettingError(f"{key}: expected yes or no, got {value!r}")
        return boolean
    return value
