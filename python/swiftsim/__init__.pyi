"""Type stubs for swiftsim: cosine similarity and its gradient with Keras semantics, by Swift SIMD kernels."""

from typing import TypedDict, type_check_only

from . import layers as layers
from . import losses as losses
from . import metrics as metrics
from . import ops as ops
from ._config import Config

__all__ = [
    "ops",
    "losses",
    "metrics",
    "layers",
    "config",
    "build_info",
    "get_num_threads",
    "set_num_threads",
    "__version__",
]

__version__: str
config: Config  # process-wide settings: config.working_memory (bytes one pairwise result may take)

@type_check_only
class _BuildInfo(TypedDict):
    version: str
    swift_version: str
    variant: str
    target_cpu: str
    simd_bits: int
    kernels: dict[str, str]
    cpu_features: list[str]
    dtypes: list[str]
    num_threads: int
    default_num_threads: int

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> _BuildInfo: ...
