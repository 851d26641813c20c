"""The llama_cpp role's CMake configure for backend cuda, architecture 121.

This machine's CUDA toolkit has nvcc but no cuBLAS and no driver stub, so a
fixture builds an overlay toolkit root the way LAB-NOTES describes (cuBLAS
from the nvidia-cublas wheel, a link-time-only libcuda.so stub) and hands it to
the role through llama_cpp_cuda_root. The role itself is not changed for it.

  .venv/bin/pytest tests/integration/test_cuda_configure.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CUDA = Path("/usr/local/cuda")
NVCC = CUDA / "bin" / "nvcc"
CUBLAS = "nvidia-cublas==13.10.0.20"
WHEELS = REPO / "build" / "cuda-wheels"

pytestmark = pytest.mark.skipif(
    not NVCC.exists(), reason=f"no nvcc at {NVCC}: the CUDA configure needs a CUDA toolkit on this machine"
)


def _cublas_wheel() -> Path:
    """The cuBLAS wheel (444 MB), downloaded once into build/cuda-wheels."""
    found = sorted(WHEELS.glob("nvidia_cublas-13.10.0.20-*.whl"))
    if not found:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(WHEELS), CUBLAS],
            check=True,
        )
        found = sorted(WHEELS.glob("nvidia_cublas-13.10.0.20-*.whl"))
    assert found, f"pip download {CUBLAS} left no wheel in {WHEELS}"
    return found[0]


@pytest.fixture(scope="session")
def cuda_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An overlay of /usr/local/cuda with cuBLAS and a libcuda.so stub (configure and link checks only)."""
    base = tmp_path_factory.mktemp("cuda-overlay")
    root = base / "cuda"
    root.mkdir()
    subprocess.run(["cp", "-as", f"{CUDA}/.", f"{root}/"], check=True)
    cublas = base / "cublas"
    with zipfile.ZipFile(_cublas_wheel()) as wheel:
        members = [m for m in wheel.namelist() if re.match(r"nvidia/cu13/(include/cublas.*\.h|lib/libcublas.*\.so\.13)$", m)]
        wheel.extractall(cublas, members)
    # cp -as turns the toolkit's lib64 -> lib into a link to the real lib: point
    # it at the overlay's own lib, and write only inside the overlay.
    if (root / "lib64").is_symlink():
        (root / "lib64").unlink()
        (root / "lib64").symlink_to("lib")
    lib64 = (root / "lib64").resolve()
    assert base.resolve() in lib64.parents, f"overlay {lib64} is outside {base}"
    (lib64 / "stubs").mkdir(parents=True, exist_ok=True)
    for header in (cublas / "nvidia/cu13/include").iterdir():
        target = root / "include" / header.name
        if not (target.exists() or target.is_symlink()):
            target.symlink_to(header)
    for library in (cublas / "nvidia/cu13/lib").iterdir():
        for name in (library.name, library.name.removesuffix(".13")):
            link = lib64 / name
            if not (link.exists() or link.is_symlink()):
                link.symlink_to(library)
    stub_source = base / "cuda_stub.c"
    stub_source.write_text("void cuInit(void) {}\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib64 / "stubs" / "libcuda.so"), str(stub_source)], check=True)
    return root


def test_cuda_configure(cuda_root: Path, tmp_path: Path) -> None:
    install_dir = tmp_path / "opt"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run(
        [
            shutil.which("ansible-playbook", path=env["PATH"]) or "ansible-playbook",
            "-i", "localhost,",
            str(REPO / "tests/integration/cuda-configure.yml"),
            "-e", f"llama_cpp_cuda_root={cuda_root}",
            "-e", f"llama_cpp_install_dir={install_dir}",
        ],
        check=True,
        cwd=REPO,
        env=env,
    )
    caches = sorted(install_dir.glob("build/*-cuda-*/CMakeCache.txt"))
    assert len(caches) == 1, caches
    cache = cmake_cache(caches[0].read_text())
    assert cache["GGML_CUDA"] == "ON"
    assert cache["GGML_RPC"] == "ON"
    assert cache["CMAKE_CUDA_ARCHITECTURES"] in ("121", "121a")
    # The toolkit the role was given, exactly: the overlay, not the real /usr/local/cuda.
    assert cache["CUDAToolkit_ROOT"] == str(cuda_root)
    assert cache["CMAKE_CUDA_COMPILER"] == f"{cuda_root}/bin/nvcc"
    # Configure only: nothing was installed, current was not created.
    assert not (install_dir / "current").exists()


def cmake_cache(text: str) -> dict[str, str]:
    """``NAME:TYPE=VALUE`` lines of a CMakeCache.txt -> ``{NAME: VALUE}``."""
    return {match.group(1): match.group(2) for match in re.finditer(r"^([^#/\s:=][^:=]*):[A-Z]+=(.*)$", text, re.M)}


def test_cmake_cache_parser() -> None:
    text = "// comment\n# comment\nGGML_RPC:BOOL=ON\nCUDAToolkit_ROOT:UNINITIALIZED=/tmp/o/cuda\nX-ADVANCED:INTERNAL=1\n"
    assert cmake_cache(text) == {"GGML_RPC": "ON", "CUDAToolkit_ROOT": "/tmp/o/cuda", "X-ADVANCED": "1"}
