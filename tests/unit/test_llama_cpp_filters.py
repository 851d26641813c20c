"""plugins/filter/llama_cpp.py: build time, build info, RPC protocol and stamp agreement."""

from __future__ import annotations

import pytest
import rpc_probe

from plugin_loader import load

llama_cpp = load("filter", "llama_cpp")

# ggml/include/ggml-rpc.h at 0c1e570, lines 1-15.
RPC_HEADER = """\
#pragma once

#include "ggml-backend.h"

#ifdef  __cplusplus
extern "C" {
#endif

#define RPC_PROTO_MAJOR_VERSION    7
#define RPC_PROTO_MINOR_VERSION    0
#define RPC_PROTO_PATCH_VERSION    0

#ifdef  __cplusplus
static_assert(GGML_OP_COUNT == 101, "GGML_OP_COUNT has changed - update RPC_PROTO_PATCH_VERSION");
#endif
"""

# common/build-info.cpp as CMake generates it for the sdist's tree (0c1e570, a shallow clone: build 1).
BUILD_INFO_CPP = """\
#include "build-info.h"

#include <cstdio>
#include <string>

int LLAMA_BUILD_NUMBER = 1;
char const * LLAMA_COMMIT = "0c1e570";
char const * LLAMA_COMPILER = "GNU 12.2.0";
char const * LLAMA_BUILD_TARGET = "Linux x86_64";

int llama_build_number(void) {
    return LLAMA_BUILD_NUMBER;
}

const char * llama_commit(void) {
    return LLAMA_COMMIT;
}
"""


# --- sum_deltas ---------------------------------------------------------------


def test_sum_deltas_adds_configure_and_compile() -> None:
    assert llama_cpp.sum_deltas(["0:00:10.250000", "0:01:02.500000"]) == 72.8
    assert llama_cpp.sum_deltas(["1:02:03.04"]) == 3723.0


def test_sum_deltas_counts_days() -> None:
    assert llama_cpp.sum_deltas(["1 day, 0:00:01.000000", "2 days, 1:00:00"]) == 86401.0 + 2 * 86400 + 3600


def test_sum_deltas_of_nothing_is_zero() -> None:
    assert llama_cpp.sum_deltas([]) == 0.0


@pytest.mark.parametrize("delta", ["", "62.5", "0:01", "1:60:00", None])
def test_sum_deltas_refuses_other_forms(delta: object) -> None:
    with pytest.raises(ValueError, match="H:MM:SS"):
        llama_cpp.sum_deltas(["0:00:01", delta])


# --- build_info_fields -------------------------------------------------------


def test_build_info_fields_reads_the_generated_file() -> None:
    assert llama_cpp.build_info_fields(BUILD_INFO_CPP) == {
        "LLAMA_BUILD_NUMBER": "1",
        "LLAMA_COMMIT": "0c1e570",
        "LLAMA_COMPILER": "GNU 12.2.0",
        "LLAMA_BUILD_TARGET": "Linux x86_64",
    }


def test_build_info_fields_returns_only_what_is_defined() -> None:
    text = 'int LLAMA_BUILD_NUMBER = 0;\nchar const * LLAMA_COMMIT = "unknown";\n'
    assert llama_cpp.build_info_fields(text) == {"LLAMA_BUILD_NUMBER": "0", "LLAMA_COMMIT": "unknown"}
    assert llama_cpp.build_info_fields("") == {}


# --- rpc_header_protocol -----------------------------------------------------


def test_rpc_header_protocol_reads_the_defines() -> None:
    assert llama_cpp.rpc_header_protocol(RPC_HEADER) == "7.0.0"


def test_rpc_header_protocol_is_the_probe_parser() -> None:
    # One parser: the filter answers what rpc_probe answers, for the same text.
    text = "#  define RPC_PROTO_PATCH_VERSION 1\n#define RPC_PROTO_MAJOR_VERSION 3\n#define RPC_PROTO_MINOR_VERSION 6\n"
    assert llama_cpp.rpc_header_protocol(text) == rpc_probe.parse_header_version(text) == "3.6.1"


def test_rpc_header_protocol_of_a_commit_before_versions() -> None:
    assert llama_cpp.rpc_header_protocol('#pragma once\n#include "ggml-backend.h"\n') == "unversioned"


def test_rpc_header_protocol_refuses_a_partial_version() -> None:
    text = "#define RPC_PROTO_MAJOR_VERSION 7\n#define RPC_PROTO_MINOR_VERSION 0\n"
    with pytest.raises(ValueError, match=r"^/src/ggml/include/ggml-rpc\.h has no RPC_PROTO_PATCH_VERSION define$"):
        llama_cpp.rpc_header_protocol(text, "/src/ggml/include/ggml-rpc.h")


# --- stamp_disagreements -----------------------------------------------------

STAMP = {"commit": "0c1e57098bba43ac29e6e3b677cdceebdd22334f", "source_sha256": "832d", "rpc_protocol": "7.0.0"}
KEYS = ["commit", "source_sha256", "rpc_protocol"]


def test_agreeing_stamps_give_nothing() -> None:
    assert llama_cpp.stamp_disagreements(["spark", "studio"], [STAMP, dict(STAMP)], KEYS) == []


def test_each_differing_key_names_every_host() -> None:
    other = dict(STAMP, commit="1111111", rpc_protocol="6.1.0")
    assert llama_cpp.stamp_disagreements(["spark", "studio", "mac"], [STAMP, other, STAMP], KEYS) == [
        f"commit: spark={STAMP['commit']}, studio=1111111, mac={STAMP['commit']}",
        "rpc_protocol: spark=7.0.0, studio=6.1.0, mac=7.0.0",
    ]


def test_a_missing_stamp_is_a_disagreement() -> None:
    assert llama_cpp.stamp_disagreements(["spark", "studio"], [STAMP, {}], ["rpc_protocol"]) == [
        "rpc_protocol: spark=7.0.0, studio=(no stamp)"
    ]
    assert llama_cpp.stamp_disagreements(["spark", "studio"], [None, {}], ["commit"]) == [
        "commit: spark=(no stamp), studio=(no stamp)"
    ]


def test_stamp_disagreements_needs_one_stamp_per_host() -> None:
    with pytest.raises(ValueError, match="2 hosts but 1 stamps"):
        llama_cpp.stamp_disagreements(["spark", "studio"], [STAMP], KEYS)


def test_filter_names() -> None:
    assert sorted(llama_cpp.FilterModule().filters()) == [
        "build_info_fields",
        "rpc_header_protocol",
        "stamp_disagreements",
        "sum_deltas",
    ]
