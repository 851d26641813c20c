// Load a model the way llama-server does (RPC devices first), print llama.cpp's load log, exit.
// It made the gemma3-270m-load-*.log files next to it, against libllama of llama.cpp 0c1e570
// (CPU + RPC build) and ggml-rpc-server processes on 127.0.0.1:
//   gcc -o load llama_load_log.c -I$LLAMA/include -I$LLAMA/ggml/include -L$BUILD/bin \
//       -lllama -lggml -lggml-base -Wl,-rpath,$BUILD/bin
//   ./load MODEL NGL CTX TS|- HOST:PORT...      (KVT=8 for a q8_0 KV cache)
// It mirrors llama-server's defaults: 4 sequences, unified KV, swa_full off.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml-backend.h"
typedef ggml_backend_reg_t (*add_server_t)(const char *);
int main(int argc, char ** argv) {
    if (argc < 5) { fprintf(stderr, "usage: load MODEL NGL CTX TS(comma or -) [EP...]\n"); return 2; }
    llama_backend_init();
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    add_server_t add = (add_server_t) ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server");
    for (int i = 5; i < argc; i++) ggml_backend_register(add(argv[i]));
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = atoi(argv[2]);
    static float ts[128] = {0};
    if (strcmp(argv[4], "-") != 0) { int n = 0; char * s = strtok(argv[4], ","); while (s) { ts[n++] = atof(s); s = strtok(NULL, ","); } mp.tensor_split = ts; }
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = atoi(argv[3]); cp.n_seq_max = 4; cp.kv_unified = true; cp.swa_full = false; if (getenv("KVT")) { cp.type_k = cp.type_v = (enum ggml_type) atoi(getenv("KVT")); }  // llama-server's auto n_parallel
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    llama_free(ctx); llama_model_free(model);
    return 0;
}
