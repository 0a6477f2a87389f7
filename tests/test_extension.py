"""swiftsim._swiftsim, called directly: the shim converts every scalar argument before it reads any
array, reads each array once, and never lets a kernel see a buffer it has not checked.

Each case runs in a subprocess, so that a crash (a write past a buffer is often one) fails the test
instead of the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import numpy as np
from swiftsim import _swiftsim

class Retype:
    '''A number whose conversion re-types an array: float32 data seen as float64 (half the length).'''
    def __init__(self, arr, value=1e-12):
        self.arr, self.value = arr, value
    def __float__(self):
        self.arr.dtype = np.float64
        return self.value
    __index__ = None
    def __bool__(self):
        self.arr.dtype = np.float64
        return False

def outcome(call):
    try:
        call()
    except (TypeError, ValueError) as e:
        print("raised", type(e).__name__, e)
    else:
        print("ran")
"""

# Each array that is re-typed has twice the last axis its partners have, so that after the conversion
# its shape matches them: a shim that checked dtypes first and read the dtype again later would run the
# float64 kernel on float32 buffers (reading past b, writing past out) without any error.
CASES = {
    "cosine epsilon re-types x1": """
a = np.ones((64, 32), np.float32); b = np.ones((64, 16), np.float32); out = np.empty(64, np.float32)
outcome(lambda: _swiftsim.cosine(a, b, out, Retype(a)))
""",
    "l2_normalize epsilon re-types x": """
x = np.ones((512, 16), np.float32); out = np.empty((512, 8), np.float32)
outcome(lambda: _swiftsim.l2_normalize(x, out, Retype(x)))
""",
    "cosine_grad epsilon re-types x1": """
a = np.ones((256, 32), np.float32); b = np.ones((256, 16), np.float32)
g = np.empty((256, 16), np.float32); u = np.ones(256, np.float32)
outcome(lambda: _swiftsim.cosine_grad(a, b, u, g, None, None, Retype(a)))
""",
    "pairwise epsilon re-types x": """
x = np.ones((64, 64), np.float32); y = np.ones((64, 32), np.float32); out = np.empty((64, 64), np.float32)
outcome(lambda: _swiftsim.pairwise_cosine(x, y, out, Retype(x)))
""",
    "top_k flag re-types queries": """
q = np.ones((64, 32), np.float32); c = np.ones((100, 16), np.float32)
s = np.empty((64, 10), np.float32); i = np.empty((64, 10), np.int64)
outcome(lambda: _swiftsim.top_k(q, c, s, i, 1e-12, Retype(q)))
""",
    "top_k epsilon re-types queries": """
q = np.ones((64, 32), np.float32); c = np.ones((100, 16), np.float32)
s = np.empty((64, 10), np.float32); i = np.empty((64, 10), np.int64)
outcome(lambda: _swiftsim.top_k(q, c, s, i, Retype(q), False))
""",
}


@pytest.mark.parametrize("name", list(CASES))
def test_scalar_conversion_cannot_change_a_checked_array(name):
    code = PRELUDE + textwrap.dedent(CASES[name])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-3000:]}"
    # The converted array is checked as it is after the conversion: a dtype mismatch is refused.
    assert r.stdout.startswith("raised TypeError") or r.stdout.startswith("raised ValueError"), r.stdout
