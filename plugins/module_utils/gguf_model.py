"""Inspect a GGUF model: header, hyperparameters and tensor bytes per layer.

Standard library only: the gguf_info module runs on managed hosts that may
not have the ``gguf`` package. The unit tests write their files with
``gguf.GGUFWriter`` and check this reader against ``gguf.GGUFReader`` on the
lab's real model.

The format (llama.cpp ggml/src/gguf.cpp, docs in gguf-py): little-endian
``"GGUF" | version:u32 | tensor_count:u64 | kv_count:u64``, then ``kv_count``
typed key/value pairs, then ``tensor_count`` tensor infos
``name | n_dims:u32 | ne[n_dims]:u64 | type:u32 | offset:u64``. Tensor data
starts at the next multiple of ``general.alignment`` (default 32) and each
offset is relative to it. A tensor's size is ``ne0 / block * type_size *
ne1 * ne2 * ne3`` for its ggml type.

A model split by gguf-split is named ``<prefix>-00001-of-0000N.gguf``; every
part carries ``split.no``/``split.count`` and only the first carries the
model's hyperparameters.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
ARRAY_KEEP = 4096  # longer arrays (the tokenizer's) are reported by length only

# ggml type id -> (name, block size, bytes per block), as in
# gguf-py/gguf/constants.py GGML_QUANT_SIZES at llama.cpp 0c1e570.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}

# Tensors llama.cpp loads as the input layer (LLM_TENSOR_LAYER_INPUT in
# src/llama-arch.cpp); every other tensor outside blk.N is output layer.
INPUT_TENSORS = ("token_embd", "pos_embd", "token_types", "per_layer_token_embd")

_STRING, _ARRAY = 8, 9
_SCALARS: dict[int, tuple[str, str]] = {
    0: ("UINT8", "B"),
    1: ("INT8", "b"),
    2: ("UINT16", "H"),
    3: ("INT16", "h"),
    4: ("UINT32", "I"),
    5: ("INT32", "i"),
    6: ("FLOAT32", "f"),
    7: ("BOOL", "?"),
    10: ("UINT64", "Q"),
    11: ("INT64", "q"),
    12: ("FLOAT64", "d"),
}
_MAX_STRING = 1 << 28
_MAX_COUNT = 1 << 40
_SPLIT_NAME = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
_LAYER = re.compile(r"^blk\.(\d+)\.")


class GGUFError(ValueError):
    """The file is not a GGUF model this reader understands, or a part is missing."""


class _Reader:
    """Sequential little-endian reads that name the file on a short read."""

    def __init__(self, stream: BinaryIO, path: str) -> None:
        self._stream = stream
        self._path = path

    def tell(self) -> int:
        return self._stream.tell()

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise GGUFError(f"{self._path}: truncated GGUF header at byte {self.tell()}")
        return data

    def skip(self, size: int) -> None:
        self._stream.seek(size, os.SEEK_CUR)

    def unpack(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def count(self, what: str, limit: int = _MAX_COUNT) -> int:
        value = int(self.unpack("Q"))
        if value > limit:
            raise GGUFError(f"{self._path}: implausible {what} {value} at byte {self.tell() - 8}")
        return value

    def string(self) -> str:
        return self.read(self.count("string length", _MAX_STRING)).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.skip(self.count("string length", _MAX_STRING))

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype][1])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            return self._array()
        raise GGUFError(f"{self._path}: unknown GGUF value type {vtype} at byte {self.tell() - 4}")

    def _array(self) -> Any:
        subtype = int(self.unpack("I"))
        length = self.count("array length")
        if length > ARRAY_KEEP:
            self._skip_values(subtype, length)
            return {"type": _type_name(subtype), "length": length}
        if subtype in _SCALARS:
            fmt = _SCALARS[subtype][1]
            return list(struct.unpack(f"<{length}{fmt}", self.read(length * struct.calcsize(fmt))))
        return [self.value(subtype) for _ in range(length)]

    def _skip_values(self, subtype: int, length: int) -> None:
        if subtype in _SCALARS:
            self.skip(length * struct.calcsize(_SCALARS[subtype][1]))
        elif subtype == _STRING:
            for _ in range(length):
                self.skip_string()
        else:
            for _ in range(length):
                self.value(subtype)


def _type_name(vtype: int) -> str:
    if vtype in _SCALARS:
        return _SCALARS[vtype][0]
    return {_STRING: "STRING", _ARRAY: "ARRAY"}.get(vtype, str(vtype))


def tensor_bytes(ggml_type: int, dims: Iterable[int], name: str = "tensor") -> int:
    """Bytes of a tensor of ``ggml_type`` with ggml dimensions ``dims`` (ne0 first)."""
    if ggml_type not in GGML_TYPES:
        raise GGUFError(f"{name}: unknown ggml type {ggml_type}")
    type_name, block, size = GGML_TYPES[ggml_type]
    dims = list(dims)
    if dims and dims[0] % block:
        raise GGUFError(f"{name}: ne0={dims[0]} is not a multiple of the {type_name} block size {block}")
    elements = 1
    for dim in dims[1:]:
        elements *= dim
    return (dims[0] // block if dims else 1) * size * elements


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def read_file(path: str) -> dict[str, Any]:
    """Header, metadata and tensor infos of one GGUF file.

    Raises GGUFError for a file that is not GGUF (the magic), a version
    other than 2 or 3, a truncated header, or tensor data that would reach
    past the end of the file.
    """
    size = os.path.getsize(path)
    with open(path, "rb", buffering=1 << 20) as stream:
        reader = _Reader(stream, path)
        magic = stream.read(4)
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{path}: not a GGUF file (magic {magic!r}, expected {GGUF_MAGIC!r})")
        version = int(reader.unpack("I"))
        if version not in SUPPORTED_VERSIONS:
            hint = " (big-endian file?)" if version > 0xFFFF else ""
            raise GGUFError(f"{path}: unsupported GGUF version {version}{hint}; llama.cpp reads 2 and 3")
        tensor_count = reader.count("tensor count", 1 << 24)
        kv_count = reader.count("key/value count", 1 << 24)
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(int(reader.unpack("I")))
        tensors = [_tensor_info(reader, path) for _ in range(tensor_count)]
        header_end = reader.tell()
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    if alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path}: general.alignment {alignment} is not a power of two")
    data_offset = _align(header_end, alignment)
    data_end = max((t["offset"] + t["n_bytes"] for t in tensors), default=0)
    if data_offset + data_end > size:
        raise GGUFError(
            f"{path}: truncated: tensor data needs {data_offset + data_end} bytes, the file has {size}"
        )
    return {
        "path": path,
        "version": version,
        "tensor_count": tensor_count,
        "kv_count": kv_count,
        "metadata": metadata,
        "tensors": tensors,
        "alignment": alignment,
        "data_offset": data_offset,
        "size_bytes": size,
    }


def _tensor_info(reader: _Reader, path: str) -> dict[str, Any]:
    name = reader.string()
    n_dims = int(reader.unpack("I"))
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFError(f"{path}: tensor {name!r} has {n_dims} dimensions (1-{MAX_DIMS} allowed)")
    dims = [reader.count(f"dimension of {name!r}") for _ in range(n_dims)]
    ggml_type = int(reader.unpack("I"))
    offset = int(reader.unpack("Q"))
    return {
        "name": name,
        "type": GGML_TYPES.get(ggml_type, (str(ggml_type),))[0],
        "dims": dims,
        "offset": offset,
        "n_bytes": tensor_bytes(ggml_type, dims, f"{path}: tensor {name!r}"),
    }


def split_parts(path: str) -> list[str]:
    """All part paths of a split model (``…-00001-of-0000N.gguf``), or ``[path]``.

    Raises GGUFError naming every missing part.
    """
    match = _SPLIT_NAME.match(os.path.basename(path))
    if not match:
        return [path]
    count = int(match.group("count"))
    if count < 1 or not 1 <= int(match.group("no")) <= count:
        raise GGUFError(f"{path}: part number out of range in the name")
    folder = os.path.dirname(path)
    parts = [
        os.path.join(folder, f"{match.group('prefix')}-{no:05d}-of-{count:05d}.gguf")
        for no in range(1, count + 1)
    ]
    missing = [part for part in parts if not os.path.isfile(part)]
    if missing:
        raise GGUFError(
            f"split model {os.path.basename(parts[0])}: {len(missing)} of {count} parts missing: "
            + ", ".join(missing)
        )
    return parts


def _check_split(files: list[dict[str, Any]]) -> None:
    count = len(files)
    for no, info in enumerate(files):
        meta = info["metadata"]
        if count > 1 and (meta.get("split.no") != no or meta.get("split.count") != count):
            raise GGUFError(
                f"{info['path']}: split.no={meta.get('split.no')} split.count={meta.get('split.count')}, "
                f"expected {no} and {count} from the file names"
            )
    expected = files[0]["metadata"].get("split.tensors.count")
    found = sum(info["tensor_count"] for info in files)
    if count > 1 and expected is not None and expected != found:
        raise GGUFError(f"{files[0]['path']}: split.tensors.count is {expected}, the parts hold {found}")


def _per_layer(value: Any, n_layer: int) -> Any:
    """An int, or a per-layer list collapsed to one int when all entries agree."""
    if isinstance(value, list):
        if value and all(v == value[0] for v in value) and len(value) == n_layer:
            return int(value[0])
        return [int(v) for v in value]
    return None if value is None else int(value)


def _length(array: Any) -> int | None:
    """Length of a parsed array: a list, or the summary of a long one."""
    if isinstance(array, dict):
        return int(array["length"])
    return len(array) if isinstance(array, list) else None


def summarize(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The model dict from the parsed parts (first part first)."""
    _check_split(files)
    meta = files[0]["metadata"]
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise GGUFError(f"{files[0]['path']}: no general.architecture key")

    def key(name: str) -> Any:
        return meta.get(f"{arch}.{name}")

    tensors = [t for info in files for t in info["tensors"]]
    by_name = {t["name"]: t for t in tensors}
    n_layer = int(key("block_count") or 0)
    layer_bytes = [0] * n_layer
    non_layer: dict[str, int] = {}
    for tensor in tensors:
        match = _LAYER.match(tensor["name"])
        if match:
            index = int(match.group(1))
            if index >= len(layer_bytes):
                layer_bytes.extend([0] * (index + 1 - len(layer_bytes)))
            layer_bytes[index] += tensor["n_bytes"]
        else:
            non_layer[tensor["name"]] = tensor["n_bytes"]
    input_bytes = sum(b for n, b in non_layer.items() if n.split(".", 1)[0] in INPUT_TENSORS)
    n_embd = key("embedding_length")
    n_head = _per_layer(key("attention.head_count"), n_layer)
    head_dim = n_embd // n_head if isinstance(n_embd, int) and isinstance(n_head, int) and n_head else None
    tied = "output.weight" not in by_name and "token_embd.weight" in by_name
    embd = by_name.get("token_embd.weight")
    vocab = embd["dims"][1] if embd and len(embd["dims"]) > 1 else _length(meta.get("tokenizer.ggml.tokens"))
    return {
        "path": files[0]["path"],
        "files": [
            {"path": i["path"], "size_bytes": i["size_bytes"], "tensor_count": i["tensor_count"]} for i in files
        ],
        "split_count": len(files),
        "magic": GGUF_MAGIC.decode(),
        "version": files[0]["version"],
        "architecture": arch,
        "name": meta.get("general.name", ""),
        "file_type": meta.get("general.file_type"),
        "block_count": n_layer,
        "context_length": key("context_length"),
        "embedding_length": n_embd,
        "feed_forward_length": _per_layer(key("feed_forward_length"), n_layer),
        "head_count": n_head,
        "head_count_kv": _per_layer(key("attention.head_count_kv"), n_layer) or n_head,
        "key_length": key("attention.key_length") or head_dim,
        "value_length": key("attention.value_length") or head_dim,
        "sliding_window": key("attention.sliding_window"),
        "sliding_window_pattern": key("attention.sliding_window_pattern"),
        "vocab_size": vocab,
        "tensor_count": len(tensors),
        "tensor_bytes": sum(t["n_bytes"] for t in tensors),
        "layer_bytes": layer_bytes,
        "non_layer_bytes": non_layer,
        "input_bytes": input_bytes,
        "output_bytes": sum(non_layer.values()) - input_bytes,
        "tied_output": tied,
        "size_bytes": sum(i["size_bytes"] for i in files),
    }


def read_model(path: str) -> dict[str, Any]:
    """Read a GGUF model (every part of a split one) and summarize it.

    Raises GGUFError: not GGUF, missing parts, truncated or inconsistent.
    """
    return summarize([read_file(part) for part in split_parts(path)])
