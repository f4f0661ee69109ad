"""Every module of ``sarcomp`` imports on its own: a cycle between modules fails here.

One fresh interpreter imports each module first, forgetting every ``sarcomp`` module in between,
so each is the entry point of its own import graph (torch and the other libraries stay loaded)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO

SCRIPT = """
import importlib, pkgutil, sys
import sarcomp
names = sorted(m.name for m in pkgutil.walk_packages(sarcomp.__path__, "sarcomp."))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "sarcomp" or m.startswith("sarcomp.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(len(names))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_in_isolation() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[0]) > 100  # the walk found the package
