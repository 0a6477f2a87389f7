"""The documentation: self-contained, complete, and built from the docstrings.

* No tracked file refers to a document outside the repository: the contract is ``docs/contract.md``
  and the Keras semantics ``docs/keras.md``.
* Every public name (each public module's ``__all__``) has a docstring, appears in the API reference
  that ``make docs`` builds with pdoc, and every public function and class is named in the contract.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PUBLIC_MODULES = [
    "swiftsim",
    "swiftsim.ops",
    "swiftsim.losses",
    "swiftsim.metrics",
    "swiftsim.layers",
    "swiftsim.cli",
    *(["swiftsim.dask"] if all(importlib.util.find_spec(m) for m in ("dask", "distributed")) else []),
]
# Written in pieces so that this file does not match itself.
OUTSIDE = ["../" + "shared", "shared" + "/spec", "KERAS_" + "SEMANTICS", "API" + ".md"]


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for needle in OUTSIDE:
            for lineno, line in enumerate(text.splitlines(), 1):
                if needle in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {needle}")
    assert not offenders, "\n".join(offenders)


def test_links_between_the_documents_resolve():
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to missing {target}"


def public_names() -> list[tuple[str, str]]:
    return [(m, name) for m in PUBLIC_MODULES for name in importlib.import_module(m).__all__]


@pytest.fixture(scope="module")
def api_reference(tmp_path_factory) -> Path:
    """The API reference as ``make docs`` builds it (same modules and options), in a temporary folder."""
    pdoc = pytest.importorskip("pdoc")
    out = tmp_path_factory.mktemp("api")
    pdoc.render.configure(docformat="numpy")
    extra = [m for m in PUBLIC_MODULES if m == "swiftsim.dask"]  # an optional extra: named explicitly
    pdoc.pdoc("swiftsim", "swiftsim.cli", *extra, output_directory=out)  # swiftsim brings the others
    return out


@pytest.mark.parametrize("module,name", public_names(), ids=lambda v: v)
def test_every_public_name_has_a_docstring(module, name):
    pdoc_doc = pytest.importorskip("pdoc.doc")
    obj = getattr(importlib.import_module(module), name)
    if isinstance(obj, ModuleType):
        docstring = obj.__doc__ or ""
    else:
        member = pdoc_doc.Module(importlib.import_module(module)).get(name)
        assert member is not None, f"pdoc does not see {module}.{name}"
        docstring = member.docstring
    assert docstring.strip(), f"{module}.{name} has no docstring"


@pytest.mark.parametrize("module,name", public_names(), ids=lambda v: v)
def test_every_public_name_is_in_the_api_reference(api_reference, module, name):
    obj = getattr(importlib.import_module(module), name)
    if isinstance(obj, ModuleType):
        assert (api_reference / Path(*obj.__name__.split("."))).with_suffix(".html").exists()
        return
    page = (api_reference / Path(*module.split("."))).with_suffix(".html").read_text()
    assert f'id="{name}"' in page, f"{module}.{name} is missing from the API reference"


def test_every_public_function_and_class_is_in_the_contract():
    contract = (DOCS / "contract.md").read_text()
    missing = [
        f"{module}.{name}"
        for module, name in public_names()
        if module != "swiftsim.cli"
        and callable(getattr(importlib.import_module(module), name))
        and not re.search(rf"\b{re.escape(name)}\b", contract)
    ]
    assert not missing, missing
