#!/usr/bin/python
# ruff: noqa: EXE001  (Ansible modules carry this shebang but stay non-executable)
"""Ansible module: read a GGUF model's header and tensor sizes where the file is."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gguf_info
short_description: Inspect a GGUF model file without loading it
description:
  - Reads the GGUF header, its metadata and the tensor-info table, and reports the architecture,
    layer count, trained context length, KV head shapes and the tensor bytes per layer.
  - For a model split into C(<prefix>-00001-of-0000N.gguf) parts, give any part; every part must be
    present and the sizes are added up across the parts.
  - Reads only the headers (a few MiB), so a sparse or very large file costs nothing.
  - The reader is the Python standard library; the C(gguf) package is not needed on the host.
  - The module never changes anything, so check mode runs the same read.
options:
  path:
    description: Path of the C(.gguf) file, or of any part of a split model.
    type: path
    required: true
author:
  - llama-lab
notes:
  - Supports check mode; the file is only read.
  - Fails with the reason when the file is not GGUF (its magic), truncated, or a part is missing.
"""

EXAMPLES = r"""
- name: Inspect the model on the head
  gguf_info:
    path: /var/lib/llama/models/gemma-3-270m-q4_k_m.gguf
  register: __plan_model

- name: Show the layer count and the weights
  ansible.builtin.debug:
    msg: "{{ __plan_model.block_count }} layers, {{ __plan_model.tensor_bytes }} bytes"
"""

RETURN = r"""
path:
  description: The file (the first part of a split model).
  returned: success
  type: str
files:
  description: Each part with its size in bytes and tensor count.
  returned: success
  type: list
  elements: dict
split_count:
  description: Number of parts (1 for a single file).
  returned: success
  type: int
magic:
  description: Always C(GGUF).
  returned: success
  type: str
version:
  description: GGUF format version (2 or 3).
  returned: success
  type: int
architecture:
  description: C(general.architecture).
  returned: success
  type: str
  sample: gemma3
name:
  description: C(general.name), or empty.
  returned: success
  type: str
block_count:
  description: Number of repeating layers (C(<arch>.block_count)).
  returned: success
  type: int
  sample: 18
context_length:
  description: Trained context length.
  returned: success
  type: int
embedding_length:
  description: Embedding width.
  returned: success
  type: int
head_count:
  description: Attention heads (an int, or a list per layer).
  returned: success
  type: raw
head_count_kv:
  description: KV heads (an int, or a list per layer); head_count when the file has none.
  returned: success
  type: raw
key_length:
  description: Key head dimension (embedding_length / head_count when the file has none).
  returned: success
  type: int
value_length:
  description: Value head dimension (embedding_length / head_count when the file has none).
  returned: success
  type: int
sliding_window:
  description: Sliding-window size, or null.
  returned: success
  type: int
sliding_window_pattern:
  description: The sliding-window pattern from the file (an int or a list of booleans), or null.
  returned: success
  type: raw
vocab_size:
  description: Vocabulary size (rows of token_embd).
  returned: success
  type: int
tensor_count:
  description: Tensors across all parts.
  returned: success
  type: int
tensor_bytes:
  description: Bytes of all tensor data across all parts.
  returned: success
  type: int
layer_bytes:
  description: Bytes of the tensors named C(blk.N.*), indexed by N.
  returned: success
  type: list
  elements: int
non_layer_bytes:
  description: Bytes of every other tensor, by name (token_embd, output, output_norm...).
  returned: success
  type: dict
input_bytes:
  description: Bytes of the input-layer tensors (token_embd and other embeddings), which llama.cpp keeps on the CPU.
  returned: success
  type: int
output_bytes:
  description: Bytes of the other non-layer tensors (output, output_norm...).
  returned: success
  type: int
tied_output:
  description: True when there is no output.weight and llama.cpp reuses token_embd as the output (a second copy on the output device).
  returned: success
  type: bool
size_bytes:
  description: Sizes of the files added up.
  returned: success
  type: int
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.gguf_model import GGUFError, read_model

ARGUMENT_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
}


def run_module() -> None:
    """Inspect the file and exit with its summary."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    path = module.params["path"]
    try:
        model = read_model(path)
    except GGUFError as exc:
        module.fail_json(msg=str(exc), path=path, changed=False)
    except OSError as exc:
        module.fail_json(msg=f"{path}: {exc.strerror or exc}", path=path, changed=False)
    module.exit_json(changed=False, **model)


def main() -> None:
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
