"""The conformance harness: cases, comparison, reports, the CLI and the pytest plugin.

The project installs four top-level packages: ``conformance``, ``contract``, ``impl``
and ``references``. A user's own file in the folder they run from can have one of
those names (an ``impl.py`` of their own is common), and the folder comes first on
``sys.path``: ``import impl`` would then load theirs. So the command line and the
library first bind the other three packages to the copies installed beside this one
(:func:`bind_own_packages`): the tool keeps working whatever the user's folder holds.
(A user's module that itself imports its own ``impl.py`` by that name gets the tool's
package; :mod:`conformance.backends` explains that clash when it happens.)
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

OWN_PACKAGES = ("contract", "impl", "references")
"""The project's other top-level packages, which a user's file must not shadow."""


def bind_own_packages() -> None:
    """Import the project's other packages from beside this one, before anything of the
    user's can take their names (the CLI and the library call this first)."""
    root = str(Path(__file__).resolve().parent.parent)
    for name in OWN_PACKAGES:
        if name in sys.modules:
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, [root])
        if spec is None or spec.loader is None:
            continue  # not beside us (an unusual install): the normal import applies
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
