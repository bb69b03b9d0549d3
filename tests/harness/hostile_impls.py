"""Implementations that try, carelessly or on purpose, to fool the harness's verdict.

Each is checked through the command line (a real subprocess, a real worker process)
by ``tests/harness/test_hostile_impls.py``: every one must end in exit code 1 with a
message that says what it did, never in a pass.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import impl


def calls_sys_exit(case):
    sys.exit(0)


def raises_keyboard_interrupt(case):
    raise KeyboardInterrupt


def raises_generator_exit(case):
    raise GeneratorExit("closed")


def calls_os_exit(case):
    os._exit(0)


def segfaults(case):
    os.kill(os.getpid(), signal.SIGSEGV)


def hangs(case):
    time.sleep(3600)


_hang_countdown = [3]


def hangs_on_its_third_call(case):
    """Right, except that its third call in a process hangs: the killed worker must be
    replaced by a new one for the next case, in every checker of --workers."""
    _hang_countdown[0] -= 1
    if _hang_countdown[0] == 0:
        time.sleep(3600)
    return impl.gradients(case)


def closes_its_pipes(case):
    """Closes every file it did not open (the harness's pipe among them), then answers."""
    os.closerange(3, 1024)
    return impl.gradients(case)


def writes_into_its_case(case):
    """Makes a weight matrix writable again and doubles it, then computes on it."""
    weights = case["params"][0]["W"]
    weights.setflags(write=True)
    weights *= 2
    return impl.gradients(case)


def prints_to_stdout(case):
    print('{"exit_code": 0, "printed by": "the implementation"}')
    return impl.gradients(case)


_calls = [0]


def drifts_after_its_first_call(case):
    """Carries state from one call to the next: right on its first call, then off."""
    _calls[0] += 1
    result = impl.gradients(case)
    if _calls[0] > 1:
        result["loss"] = result["loss"] + result["loss"].dtype.type(0.5)
    return result


_by_shape: dict = {}


def caches_by_shape(case):
    """Caches its result under the case's shapes, not its values."""
    key = (tuple((layer["in"], layer["out"]) for layer in case["layers"]), case["inputs"].shape)
    key += (case["dtype"],)
    if key not in _by_shape:
        _by_shape[key] = impl.gradients(case)
    return _by_shape[key]


def right_then_wrong(case):
    """Right on odd calls, wrong on even ones: a check followed by a second call disagrees."""
    _calls[0] += 1
    result = impl.gradients(case)
    if _calls[0] % 2 == 0:
        result["input_grad"] = result["input_grad"] * 3
    return result


def slow(case):
    """Right, but slow: a run over it lasts long enough to be interrupted."""
    time.sleep(0.3)
    return impl.gradients(case)


def returns_a_huge_result(case):
    """Right gradients beside 320 MB of "debug" output: more than a result can be."""
    result = impl.gradients(case)
    result["activations"] = np.zeros(40_000_000)
    return result
