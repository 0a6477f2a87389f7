"""``swiftsim info``: what was compiled, as a process and in process."""

from __future__ import annotations

from tests.cli.helpers import python_m, run


def test_info_as_a_process():
    proc = python_m("info")
    assert proc.returncode == 0, proc.stderr
    import swiftsim

    info = swiftsim.build_info()
    lines = dict(line.strip().split(": ", 1) for line in proc.stdout.splitlines())
    assert lines["swiftsim"] == swiftsim.__version__
    assert lines["Swift"] == info["swift_version"]
    assert lines["SIMD width"] == f"{info['simd_bits']} bits"
    assert lines["CPU target"].startswith(info["target_cpu"])
    assert "float16, bfloat16, float32, float64" in lines["dtypes"]
    assert lines["bfloat16 all-pairs"].startswith(info["kernels"]["dot_bf16"])  # vdpbf16ps or widen
    assert lines["threads"].startswith(str(swiftsim.get_num_threads()))


def test_info_follows_the_thread_setting(capsys):
    import swiftsim

    before = swiftsim.get_num_threads()
    try:
        swiftsim.set_num_threads(1)
        code, out, _ = run(["info"], capsys)
    finally:
        swiftsim.set_num_threads(before)
    assert code == 0
    assert "threads: 1 (default" in out
