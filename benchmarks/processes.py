"""How the benchmarks start needlescreen processes: as an installed package runs, with its bytecode cached.

An installed package has its modules compiled once (pip writes the bytecode at install; a source checkout
writes it on first import). A machine set never to write bytecode (``PYTHONDONTWRITEBYTECODE``, as this
project's development machines are) compiles needlescreen's modules again in every process, about 80 ms of
every start: a cost a clinic's install does not pay. So the end-to-end figures (``batch``, ``impact``, cold
start) run their processes with the bytecode kept in a temporary directory (``PYTHONPYCACHEPREFIX``: the
source tree is left alone), filled once before timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What the timed commands import: the command line, batch, impact, and Dask's client where it is installed.
_WARM = (
    "import importlib.util\n"
    "import needlescreen.cli, needlescreen.batch, needlescreen.impact\n"
    "if importlib.util.find_spec('distributed') is not None:\n"
    "    import distributed, needlescreen._dask\n"
)


@contextmanager
def bytecode_cached() -> Iterator[dict[str, str]]:
    """The environment for a timed needlescreen process: bytecode written to and read from a temporary cache."""
    with tempfile.TemporaryDirectory(prefix="needlescreen-bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        subprocess.run([sys.executable, "-c", _WARM], env=env, check=True, cwd=ROOT)
        yield env
