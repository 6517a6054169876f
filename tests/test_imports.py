"""Every module imports on its own, first, as a script or a test importing only it would: no import cycle."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import kafkactl


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    names = [m.name for m in pkgutil.walk_packages(kafkactl.__path__, "kafkactl.") if not m.name.endswith("__main__")]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.invalidate_caches()\n" \
             "    for loaded in [m for m in sys.modules if m.startswith('kafkactl')]:\n        del sys.modules[loaded]\n" \
             "    importlib.import_module(name)\n"
    outcome = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=120)
    assert outcome.returncode == 0, outcome.stderr[-2000:]
