"""Which environment variables each service reads, found in the code itself.

The deploy tests check that docker-compose.yml and both Kubernetes overlays set every
one of them, so a setting added to the code without a value in the deployments fails
`make test` instead of running on a default nobody chose.

The scan reads the source (``ast``), not a list kept by hand:
- ``os.environ.get(X)``, ``os.environ[X]``, ``os.getenv(X)`` and ``environ.get(X)`` with X
  a string or a module-level string constant;
- the helpers that put a prefix in front of a key (``WRAPPERS``), and nameko config keys
  that config.yml fills from ``${VARIABLE}``;
- ``<SERVICE>_DATABASE_URL`` and ``<SERVICE>_METRICS_PORT``, which config.py builds from
  the service's name.
A read the scan cannot name fails the test, unless ``INDIRECT`` says how it is covered:
teach the scan the new form rather than leave it unchecked.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from werkbrug_shared.config import DATABASE_SERVICES, SERVICES

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "libs" / "shared" / "werkbrug_shared"
CONFIG_YML = ROOT / "config.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"

# (file name, function name) -> (index of the key argument, prefix of the variable)
WRAPPERS = {
    ("config.py", "_setting"): (1, "WERKBRUG_"),
    ("mail.py", "get"): (0, "WERKBRUG_"),
    ("live_index.py", "_setting"): (0, ""),
}
# configured_timer("KEY", ...): the container config's KEY, else the variable KEY
TIMER = "configured_timer"

# Reads the scan cannot name by themselves, and what covers each: (file, argument as written).
INDIRECT = {
    ("config.py", "key"): "<SERVICE>_DATABASE_URL and <SERVICE>_METRICS_PORT, added per service",
    ("config.py", "f'WERKBRUG_{key}'"): "config._setting's keys, each found at its call (WRAPPERS)",
    ("mail.py", "f'WERKBRUG_{key}'"): "mail's get() keys, each found at its call (WRAPPERS)",
    ("live_index.py", "name"): "live_index._setting's names, each found at its call (WRAPPERS)",
    ("timers.py", "self.setting"): "configured_timer's keys, each found at its use (TIMER)",
}

# Read by the shared library (so by every process) but used by these services only.
ONLY_FOR = {
    "WERKBRUG_HTTP_ADDRESS": {"gateway"},  # only the gateway serves HTTP
    "WERKBRUG_AFTERCARE_SWEEP_SECONDS": {"aftercare"},
    "WERKBRUG_MATCHING_FAIRNESS_REPORT_SECONDS": {"matching"},
    # the HTTP rules: only the gateway serves HTTP
    "WERKBRUG_CORS_ORIGINS": {"gateway"},
    "WERKBRUG_HTTP_MAX_BODY_BYTES": {"gateway"},
    "WERKBRUG_RATE_LIMIT": {"gateway"},
    "WERKBRUG_RATE_LIMIT_ORGANISATIONS": {"gateway"},
    "WERKBRUG_GATEWAY_REPLICAS": {"gateway"},
    # the services that hold notes, logbooks and shortlists remove them after this
    "WERKBRUG_RETENTION_DAYS": {"candidates", "matching", "aftercare", "vacancies"},
    "WERKBRUG_RETENTION_SWEEP_SECONDS": {"candidates", "matching", "aftercare", "vacancies"},
}
ONLY_FOR_PREFIX = {
    "WERKBRUG_SMTP_": {"aftercare"},  # mail to jobcoaches and coordinators
}

# Read through something named environ that is not the process's environment.
NOT_ENVIRONMENT = {
    "PATH_INFO": "the WSGI environ of a request (metrics.py's health app)",
    "CONTENT_LENGTH": "the WSGI environ of a request (http_policy.py's body cap)",
    "CONTENT_TYPE": "the WSGI environ of a request (http_policy.py's media type check)",
    "HTTP_ACCEPT": "the WSGI environ of a request (http_policy.py's Accept check)",
    "HTTP_TRANSFER_ENCODING": "the WSGI environ of a request (http_policy.py's body cap)",
}

# Read by the code but no deployment setting: a deployment must leave them unset.
NOT_FOR_DEPLOYMENTS = {
    "WERKBRUG_TODAY": "a fixed date for tests and demos; a deployment counts with today's date",
    "WERKBRUG_CRASH_AT": "fault injection for tests/faults; never in a deployment",
    "WERKBRUG_CREDENTIAL": "the partner credential of `werkbrug import`, given where an import runs",
}


@dataclass
class Scan:
    shared: set[str] = field(default_factory=set)
    per_service: dict[str, set[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    indirect_seen: set[tuple[str, str]] = field(default_factory=set)

    def read_by(self, service: str) -> set[str]:
        names = set(self.per_service.get(service, set()))
        for name in self.shared:
            only = ONLY_FOR.get(name) or next(
                (svcs for prefix, svcs in ONLY_FOR_PREFIX.items() if name.startswith(prefix)), None
            )
            if only is None or service in only:
                names.add(name)
        names.add(f"{service.upper()}_METRICS_PORT")
        if service in DATABASE_SERVICES:
            names.add(f"{service.upper()}_DATABASE_URL")
        return names - set(NOT_FOR_DEPLOYMENTS) - set(NOT_ENVIRONMENT)

    @property
    def every_name(self) -> set[str]:
        return self.shared.union(*self.per_service.values())


def config_yml_variables() -> tuple[set[str], dict[str, str]]:
    """Variables config.yml substitutes, and which top-level key each fills."""
    text = CONFIG_YML.read_text(encoding="utf-8")
    pattern = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::[^}]*)?\}")
    variables = set(pattern.findall(text))
    by_key = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$", line)
        if match:
            found = pattern.search(match.group(2))
            if found:
                by_key[match.group(1)] = found.group(1)
    return variables, by_key


def dockerfile_env() -> dict[str, str]:
    """ENV the image sets (deploy/docker/Dockerfile), which every container starts with."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line):
                env[key] = value
    return env


def _is_env_getter(func: ast.expr) -> bool:
    text = ast.unparse(func)
    return text in {"os.environ.get", "os.getenv", "environ.get", "os.environ.setdefault"}


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _scan_file(path: Path, scan: Scan, into: set[str], config_keys: dict[str, str]) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = _constants(tree)

    def resolve(arg: ast.expr) -> str | None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name) and arg.id in constants:
            return constants[arg.id]
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.ctx, ast.Load):
                name = resolve(node.slice)
                _note(scan, into, path, node.slice, name)
            continue
        if not isinstance(node, ast.Call):
            continue
        if _is_env_getter(node.func):
            if ast.unparse(node.func) == "os.environ.setdefault":
                continue  # the process setting a default for a library, not a setting read
            if node.args:
                _note(scan, into, path, node.args[0], resolve(node.args[0]))
            continue
        func_name = node.func.id if isinstance(node.func, ast.Name) else None
        if func_name and (path.name, func_name) in WRAPPERS:
            index, prefix = WRAPPERS[(path.name, func_name)]
            if len(node.args) > index:
                key = resolve(node.args[index])
                if key is not None:
                    into.add(prefix + key)
        elif func_name == TIMER and node.args:
            key = resolve(node.args[0])
            if key is not None:
                # config.yml fills the key from a variable of its own, else the key is the variable
                into.add(config_keys.get(key, key))


def _note(scan: Scan, into: set[str], path: Path, arg: ast.expr, name: str | None) -> None:
    if name is not None:
        into.add(name)
        return
    written = ast.unparse(arg)
    if (path.name, written) in INDIRECT:
        scan.indirect_seen.add((path.name, written))
    else:
        scan.unresolved.append(f"{path.relative_to(ROOT)}:{arg.lineno}: os.environ read of {written}")


def source_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "tests" not in p.parts and "migrations" not in p.parts)


@functools.cache
def scan() -> Scan:
    result = Scan()
    variables, config_keys = config_yml_variables()
    result.shared |= variables
    for path in source_files(SHARED):
        _scan_file(path, result, result.shared, config_keys)
    for service in SERVICES:
        found: set[str] = set()
        for path in source_files(ROOT / "services" / service / service):
            _scan_file(path, result, found, config_keys)
        result.per_service[service] = found
    return result


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)
