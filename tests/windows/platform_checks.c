/* One program, built for Linux and for Windows, whose outputs scripts/test_windows.sh
 * compares: the same model run by both builds of nodespace.
 *
 *   platform_checks embed MODEL_DIR            every vector of a fixed set of texts, %.9g
 *   platform_checks generate MODEL_DIR VARIANT greedy token ids and text of a fixed chat
 *   platform_checks runtime                    load ONNX Runtime (searched); status, message, version,
 *                                              the log (which file was loaded)
 *   platform_checks device MODEL_DIR DEVICE    load an embedder on DEVICE (auto, cpu, directml);
 *                                              status, message, provider and fallback reason
 *
 * Output: `key: value` lines. Exit status 0 when the call's status was printed (whatever it
 * was), 1 when the program itself could not run. On Windows the arguments are read as
 * UTF-16 (wmain, -municode) and handed to nodespace as UTF-8, as a Windows app must: the
 * ANSI argv would lose characters outside the code page (モデル).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodespace.h"

#ifdef _WIN32
#include <windows.h>
#endif

static const char *TEXTS[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Notes from Monday: ship the Windows build, then macOS.",
    "Zoë Ünal keeps her モデル in Documents.",
    "",
};
#define TEXT_COUNT (sizeof TEXTS / sizeof TEXTS[0])

static int report(const char *what, ns_status status) {
    printf("status: %s\n", ns_status_string(status));
    printf("message: %s\n", status == NS_OK ? "" : ns_last_error_message());
    if (status != NS_OK) fprintf(stderr, "%s: %s: %s\n", what, ns_status_string(status), ns_last_error_message());
    return 0;
}

static ns_status new_embedder(const char *model, int32_t device, ns_embedder **e) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = model;
    o.device = device;
    return ns_embedder_new(&o, e, NULL);
}

static int embed(const char *model) {
    ns_embedder *e = NULL;
    ns_status s = new_embedder(model, NS_DEVICE_CPU, &e);
    if (s != NS_OK) return report("ns_embedder_new", s);
    size_t dim = ns_embedder_dimension(e);
    float *v = malloc(TEXT_COUNT * dim * sizeof(float));
    s = ns_embed_batch(e, TEXTS, NULL, TEXT_COUNT, v, TEXT_COUNT * dim, NULL);
    report("ns_embed_batch", s);
    if (s == NS_OK) {
        for (size_t i = 0; i < TEXT_COUNT; i++) {
            printf("vector %zu:", i);
            for (size_t k = 0; k < dim; k++) printf(" %.9g", v[i * dim + k]);
            printf("\n");
        }
    }
    free(v);
    ns_embedder_free(e);
    return 0;
}

static int32_t print_chunk(const char *utf8, size_t len, void *user) {
    fwrite(utf8, 1, len, (FILE *)user);
    return NS_CONTINUE;
}

static int generate(const char *model, const char *variant) {
    ns_generator_options o;
    ns_generator_options_init(&o, sizeof o);
    o.model_path = model;
    o.variant = variant;
    o.device = NS_DEVICE_CPU;
    ns_generator *g = NULL;
    ns_status s = ns_generator_new(&o, &g, NULL);
    if (s != NS_OK) return report("ns_generator_new", s);
    ns_chat_message chat[1];
    chat[0].role = "user";
    chat[0].content = "List three things to pack for a weekend hike.";
    uint32_t ids[64];
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.messages = chat;
    r.message_count = 1;
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 40;
    r.token_ids_out = ids;
    r.token_ids_capacity = 64;
    ns_generation_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    printf("text: ");
    s = ns_generate_stream(g, &r, print_chunk, stdout, &st, NULL);
    printf("\n");
    report("ns_generate_stream", s);
    printf("tokens:");
    for (size_t i = 0; i < st.generated_tokens && i < 64; i++) printf(" %u", ids[i]);
    printf("\n");
    ns_generator_free(g);
    return 0;
}

static void print_log(int32_t level, const char *message, void *user) {
    (void)level;
    (void)user;
    printf("log: %s\n", message);
}

static int runtime(void) {
    ns_set_log_callback(print_log, NULL, NS_LOG_INFO); /* "loaded ONNX Runtime V from PATH" */
    ns_runtime_options r;
    ns_runtime_options_init(&r, sizeof r);
    ns_status s = ns_runtime_init(&r);
    report("ns_runtime_init", s);
    char version[64] = "";
    if (s == NS_OK) ns_runtime_version(version, sizeof version);
    printf("version: %s\n", version);
    return 0;
}

static int device(const char *model, const char *name) {
    int32_t d = strcmp(name, "directml") == 0 ? NS_DEVICE_DIRECTML
              : strcmp(name, "cpu") == 0      ? NS_DEVICE_CPU
                                              : NS_DEVICE_AUTO;
    ns_embedder *e = NULL;
    ns_status s = new_embedder(model, d, &e);
    report("ns_embedder_new", s);
    if (s == NS_OK) {
        ns_embedder_info info;
        info.struct_size = sizeof info;
        ns_embedder_get_info(e, &info);
        printf("provider: %s\n", info.provider);
        printf("fallback: %s\n", info.fallback_reason ? info.fallback_reason : "");
        ns_embedder_free(e);
    }
    return 0;
}

static int run(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc >= 3 && strcmp(argv[1], "embed") == 0) return embed(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "generate") == 0) return generate(argv[2], argv[3]);
    if (argc >= 2 && strcmp(argv[1], "runtime") == 0) return runtime();
    if (argc >= 4 && strcmp(argv[1], "device") == 0) return device(argv[2], argv[3]);
    fprintf(stderr, "usage: platform_checks embed|generate|runtime|device ...\n");
    return 1;
}

#ifdef _WIN32
int wmain(int argc, wchar_t **wargv) {
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) {
        int n = WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, NULL, 0, NULL, NULL);
        argv[i] = malloc((size_t)n);
        WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, argv[i], n, NULL, NULL);
    }
    return run(argc, argv);
}
#else
int main(int argc, char **argv) { return run(argc, argv); }
#endif
