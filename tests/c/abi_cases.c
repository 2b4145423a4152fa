/* C-ABI test cases, one per invocation: `abi_cases CASE [ARGS...]`.
 * Each case checks the exact status and that the message names the problem, and exits 0
 * on success, 1 with a reason on failure. tests/c_abi.rs compiles this file against
 * include/nodespace.h and runs every case in its own process.
 *
 * Environment: NS_TINY = models/tiny folder.
 */
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nodespace.h"

static char path_buf[4096];
static const char *tiny(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", getenv("NS_TINY"), name);
    return strdup(path_buf);
}

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n  last error: %s\n", ns_last_error_message()); \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* The status must be `want` and the message must contain `needle`. */
static void expect(ns_status got, ns_status want, const char *needle) {
    const char *msg = ns_last_error_message();
    CHECK(got == want, "status %s, want %s (message: %s)", ns_status_string(got), ns_status_string(want), msg);
    CHECK(needle == NULL || strstr(msg, needle) != NULL, "message \"%s\" does not mention \"%s\"", msg, needle);
}

static ns_embedder *load_embedder(const char *name) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny(name);
    ns_embedder *e = NULL;
    ns_status s = ns_embedder_new(&o, &e, NULL);
    CHECK(s == NS_OK && e != NULL, "loading %s: %s", name, ns_status_string(s));
    return e;
}

static ns_generator *load_generator(const char *path) {
    ns_generator_options o;
    ns_generator_options_init(&o, sizeof o);
    o.model_path = path;
    ns_generator *g = NULL;
    ns_status s = ns_generator_new(&o, &g, NULL);
    CHECK(s == NS_OK && g != NULL, "loading %s: %s", path, ns_status_string(s));
    return g;
}

static const char *TEXTS[] = {"hello world", "the cat sat on the mat", ""};

static int32_t count_chunks(const char *utf8, size_t len, void *user) {
    (void)utf8;
    (void)len;
    (*(int *)user)++;
    return NS_CONTINUE;
}

static int32_t stop_at_once(const char *utf8, size_t len, void *user) {
    (void)utf8;
    (void)len;
    (*(int *)user)++;
    return NS_STOP;
}

/* ---- cases ------------------------------------------------------------------------- */

static void null_handle(void) {
    float out[64];
    expect(ns_embed_batch(NULL, TEXTS, NULL, 1, out, 64, NULL), NS_ERR_NULL_POINTER, "embedder is NULL");
    expect(ns_generate_stream(NULL, NULL, NULL, NULL, NULL, NULL), NS_ERR_NULL_POINTER, "generator is NULL");
    expect(ns_cancel_token_cancel(NULL), NS_ERR_NULL_POINTER, "token is NULL");
    CHECK(ns_embedder_dimension(NULL) == 0, "dimension of NULL");
}

static void null_out_pointer(void) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny("embed-bert");
    expect(ns_embedder_new(&o, NULL, NULL), NS_ERR_NULL_POINTER, "out is NULL");
    expect(ns_embedder_new(NULL, NULL, NULL), NS_ERR_NULL_POINTER, NULL);
    ns_embedder *e = load_embedder("embed-bert");
    expect(ns_embed_batch(e, TEXTS, NULL, 1, NULL, 64, NULL), NS_ERR_NULL_POINTER, "out is NULL");
    expect(ns_embedder_options_init(NULL, 64), NS_ERR_NULL_POINTER, "options is NULL");
    ns_embedder_free(e);
}

static void null_texts(void) {
    ns_embedder *e = load_embedder("embed-bert");
    float out[64];
    expect(ns_embed_batch(e, NULL, NULL, 1, out, 64, NULL), NS_ERR_NULL_POINTER, "texts is NULL");
    const char *with_null[] = {"a", NULL};
    expect(ns_embed_batch(e, with_null, NULL, 2, out, 64, NULL), NS_ERR_NULL_POINTER, "texts[1] is NULL");
    ns_embedder_free(e);
}

static void invalid_utf8(void) {
    ns_embedder *e = load_embedder("embed-bert");
    float out[64];
    const char *bad[] = {"fine", "caf\xc3\x28"};
    ns_error_detail detail;
    expect(ns_embed_batch(e, bad, NULL, 2, out, 64, &detail), NS_ERR_INVALID_UTF8, "texts[1] is not valid UTF-8");
    CHECK(detail.status == NS_ERR_INVALID_UTF8 && strstr(detail.message, "texts[1]"), "error detail not filled");
    size_t lengths[] = {4, 3}; /* "caf" is valid when cut to 3 bytes */
    expect(ns_embed_batch(e, bad, lengths, 2, out, 64, &detail), NS_OK, NULL);
    CHECK(detail.status == NS_OK && detail.message[0] == 0, "detail not reset on success");
    ns_embedder_free(e);
}

static void count_zero(void) {
    ns_embedder *e = load_embedder("embed-bert");
    float out[64];
    expect(ns_embed_batch(e, TEXTS, NULL, 0, out, 64, NULL), NS_ERR_INVALID_ARGUMENT, "count is 0");
    ns_embedder_free(e);
}

static void buffer_too_small(void) {
    ns_embedder *e = load_embedder("embed-bert");
    float out[64];
    expect(ns_embed_batch(e, TEXTS, NULL, 3, out, 64, NULL), NS_ERR_BUFFER_TOO_SMALL, "need 96");
    ns_embedder_free(e);
}

static void empty_text_is_valid(void) {
    ns_embedder *e = load_embedder("embed-bert");
    float out[96];
    expect(ns_embed_batch(e, TEXTS, NULL, 3, out, 96, NULL), NS_OK, NULL);
    double norm = 0;
    for (int i = 64; i < 96; i++) norm += out[i] * out[i];
    CHECK(fabs(norm - 1.0) < 1e-4, "empty text vector norm^2 %f", norm);
    ns_embedder_free(e);
}

/* One embedder, the prompt chosen per call; truncation refused when asked; a caller built
 * against the header before fail_on_truncation (a smaller struct) still loads. */
static void embed_prompt_and_truncation(void) {
    const char *texts[] = {"hello world", "the cat sat on the mat"};
    float plain[64], per_call[64], dedicated[64];
    ns_embedder *e = load_embedder("embed-bert-nott");
    expect(ns_embed_batch(e, texts, NULL, 2, plain, 64, NULL), NS_OK, NULL);
    expect(ns_embed_batch_with_prompt(e, "query", texts, NULL, 2, per_call, 64, NULL), NS_OK, NULL);
    CHECK(memcmp(plain, per_call, sizeof plain) != 0, "the query prompt changed nothing");
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny("embed-bert-nott");
    o.prompt_name = "query";
    ns_embedder *q = NULL;
    expect(ns_embedder_new(&o, &q, NULL), NS_OK, NULL);
    expect(ns_embed_batch(q, texts, NULL, 2, dedicated, 64, NULL), NS_OK, NULL);
    CHECK(memcmp(per_call, dedicated, sizeof per_call) == 0, "per-call prompt differs from the embedder's prompt");
    expect(ns_embed_batch_with_prompt(q, NULL, texts, NULL, 2, per_call, 64, NULL), NS_OK, NULL);
    CHECK(memcmp(per_call, dedicated, sizeof per_call) == 0, "NULL prompt is not the embedder's own");
    ns_error_detail detail;
    expect(ns_embed_batch_with_prompt(e, "document", texts, NULL, 2, per_call, 64, &detail), NS_ERR_INVALID_ARGUMENT,
           "defined prompts: passage, query");
    CHECK(detail.status == NS_ERR_INVALID_ARGUMENT, "detail not filled");
    expect(ns_embed_batch_with_prompt(e, "caf\xc3\x28", texts, NULL, 2, per_call, 64, NULL), NS_ERR_INVALID_UTF8, "prompt_name");
    expect(ns_embed_batch_with_prompt(NULL, "query", texts, NULL, 2, per_call, 64, NULL), NS_ERR_NULL_POINTER, "embedder is NULL");
    ns_embedder_free(q);
    ns_embedder_free(e);

    ns_embedder_options_init(&o, sizeof o);
    CHECK(o.fail_on_truncation == 0, "truncation is the default");
    o.model_path = tiny("embed-bert");
    o.max_length = 16;
    o.fail_on_truncation = 1;
    ns_embedder *strict = NULL;
    expect(ns_embedder_new(&o, &strict, NULL), NS_OK, NULL);
    const char *long_texts[] = {"short", "cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat"};
    expect(ns_embed_batch(strict, long_texts, NULL, 2, plain, 64, &detail), NS_ERR_CONTEXT_OVERFLOW, "text 1 is 17 tokens");
    CHECK(strstr(detail.message, "at most 16") != NULL, "detail: %s", detail.message);
    expect(ns_embed_batch(strict, long_texts, NULL, 1, plain, 64, NULL), NS_OK, NULL);
    ns_embedder_free(strict);

    /* An older caller's struct ends before fail_on_truncation: the library reads the
     * fields it was given and truncates as before. */
    o.struct_size = (uint32_t)offsetof(ns_embedder_options, fail_on_truncation);
    ns_embedder *older = NULL;
    expect(ns_embedder_new(&o, &older, NULL), NS_OK, NULL);
    expect(ns_embed_batch(older, long_texts, NULL, 2, plain, 64, NULL), NS_OK, NULL);
    ns_embedder_free(older);
}

static void struct_size_zero(void) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny("embed-bert");
    o.struct_size = 0;
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_STRUCT_SIZE, "struct_size is 0");
    CHECK(e == NULL, "out not NULL on failure");
}

static void struct_size_too_large(void) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny("embed-bert");
    o.struct_size = sizeof o + 64;
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_STRUCT_SIZE, "ns_embedder_options.struct_size");
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.struct_size = 3;
    ns_generator *g = load_generator(tiny("gen-llama"));
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_STRUCT_SIZE, "ns_generate_request.struct_size is 3");
    ns_generator_free(g);
}

/* _init takes the caller's struct size: larger (a newer header) is filled up to what the
 * library knows, the rest zeroed; smaller than any version is refused. */
static void init_sizes(void) {
    unsigned char buffer[sizeof(ns_embedder_options) + 32];
    memset(buffer, 0xAB, sizeof buffer);
    expect(ns_embedder_options_init((ns_embedder_options *)buffer, sizeof buffer), NS_OK, NULL);
    ns_embedder_options *o = (ns_embedder_options *)buffer;
    CHECK(o->struct_size == sizeof(ns_embedder_options), "struct_size %u", o->struct_size);
    CHECK(o->normalize == 1 && o->model_path == NULL, "defaults not written");
    for (size_t i = sizeof(ns_embedder_options); i < sizeof buffer; i++) CHECK(buffer[i] == 0, "byte %zu not zeroed", i);
    ns_generate_request r;
    expect(ns_generate_request_init(&r, 3), NS_ERR_STRUCT_SIZE, "smaller than any version");
}

static pthread_key_t teardown_key;
static void free_during_teardown(void *value) {
    (void)value;
    ns_embedder_free(NULL); /* runs after the thread's own thread-locals are gone */
    ns_cancel_token *t = NULL;
    ns_cancel_token_new(&t);
    ns_cancel_token_free(t);
}
static void *thread_with_destructor(void *arg) {
    (void)arg;
    ns_embedder_free(NULL);
    pthread_setspecific(teardown_key, (void *)1);
    return NULL;
}

/* Calls from a thread-exit destructor (e.g. a binding releasing a handle when its worker
 * thread ends) must not abort. */
static void calls_during_thread_teardown(void) {
    pthread_key_create(&teardown_key, free_during_teardown);
    pthread_t t;
    pthread_create(&t, NULL, thread_with_destructor, NULL);
    pthread_join(t, NULL);
}

static void missing_model_folder(void) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = "/nonexistent/nodespace-model";
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_MODEL_NOT_FOUND, "/nonexistent/nodespace-model");
    ns_generator_options g;
    ns_generator_options_init(&g, sizeof g);
    g.model_path = "/nonexistent/nodespace-llm";
    ns_generator *gen = NULL;
    expect(ns_generator_new(&g, &gen, NULL), NS_ERR_MODEL_NOT_FOUND, "/nonexistent/nodespace-llm");
}

/* argv: a folder whose model.onnx was truncated by the test driver. */
static void truncated_onnx(const char *folder) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = folder;
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_MODEL_INVALID, "model.onnx");
}

/* argv: a folder whose tokenizer.json is garbage. */
static void garbage_tokenizer(const char *folder) {
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = folder;
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_TOKENIZER, "tokenizer.json");
}

/* A failed ns_runtime_init leaves nothing behind: the next model load searches as usual
 * and finds the runtime the harness names in NS_ONNXRUNTIME_PATH (on Linux) or puts
 * beside nodespace.dll (under Wine, scripts/test_windows.sh). */
static void expect_init_left_nothing_behind(void) {
#ifndef _WIN32
    CHECK(getenv("NS_ONNXRUNTIME_PATH") != NULL, "the harness sets NS_ONNXRUNTIME_PATH");
#endif
    ns_embedder *e = load_embedder("embed-bert");
    ns_embedder_free(e);
}

static void runtime_path_missing(void) {
    ns_runtime_options r;
    ns_runtime_options_init(&r, sizeof r);
    r.onnxruntime_path = "/nonexistent/libonnxruntime.so";
    expect(ns_runtime_init(&r), NS_ERR_RUNTIME_NOT_FOUND, "/nonexistent/libonnxruntime.so");
    expect_init_left_nothing_behind();
}

/* argv: a file that is not a shared library: the message carries the loader's reason. */
static void runtime_not_a_library(const char *path) {
    ns_runtime_options r;
    ns_runtime_options_init(&r, sizeof r);
    r.onnxruntime_path = path;
    expect(ns_runtime_init(&r), NS_ERR_RUNTIME_NOT_FOUND, path);
    const char *msg = ns_last_error_message();
    /* More than "dlopen failed": glibc says "invalid ELF header" (or "file too short"),
     * Windows ERROR_BAD_EXE_FORMAT (193). */
#ifdef _WIN32
    CHECK(strstr(msg, "LoadLibraryExW failed: ") && strstr(msg, "(os error 193)"), "message lacks the loader's reason: %s",
          msg);
#else
    CHECK(strstr(msg, "dlopen failed: ") && (strstr(msg, "ELF") || strstr(msg, "too short")),
          "message lacks the loader's reason: %s", msg);
#endif
    expect_init_left_nothing_behind();
}

/* argv: a library that is not ONNX Runtime, or one of an unsupported version. */
static void runtime_wrong_library(const char *path) {
    ns_runtime_options r;
    ns_runtime_options_init(&r, sizeof r);
    r.onnxruntime_path = path;
    ns_status s = ns_runtime_init(&r);
    expect(s, NS_ERR_RUNTIME_NOT_FOUND, path);
    const char *msg = ns_last_error_message();
    CHECK(strstr(msg, "1.10.0") || strstr(msg, "OrtGetApiBase"), "message does not say what is wrong: %s", msg);
    expect_init_left_nothing_behind();
}

static void wrong_model_kind(void) {
    ns_generator_options g;
    ns_generator_options_init(&g, sizeof g);
    g.model_path = tiny("embed-bert");
    ns_generator *gen = NULL;
    expect(ns_generator_new(&g, &gen, NULL), NS_ERR_MODEL_INVALID, "not a decoder");
    ns_embedder_options o;
    ns_embedder_options_init(&o, sizeof o);
    o.model_path = tiny("gen-llama");
    ns_embedder *e = NULL;
    expect(ns_embedder_new(&o, &e, NULL), NS_ERR_MODEL_INVALID, "not an embedding model");
}

static void callback_stops_at_once(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 20;
    ns_generation_stats st;
    st.struct_size = sizeof st;
    int calls = 0;
    expect(ns_generate_stream(g, &r, stop_at_once, &calls, &st, NULL), NS_ERR_CANCELLED, "cancelled");
    CHECK(calls == 1, "callback ran %d times after asking to stop", calls);
    CHECK(st.stop_reason == NS_STOP_CANCELLED, "stop reason %d", st.stop_reason);
    CHECK(st.generated_tokens >= 1 && st.generated_tokens < 20, "generated %zu", st.generated_tokens);
    /* The generator still works afterwards. */
    calls = 0;
    expect(ns_generate_stream(g, &r, count_chunks, &calls, &st, NULL), NS_OK, NULL);
    CHECK(calls > 0 && st.stop_reason != NS_STOP_CANCELLED, "generation after a stop");
    ns_generator_free(g);
}

struct canceller {
    ns_cancel_token *token;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int chunks;
    int cancelled;
};

static void *cancel_thread(void *arg) {
    struct canceller *c = arg;
    pthread_mutex_lock(&c->lock);
    while (c->chunks < 3) pthread_cond_wait(&c->cond, &c->lock);
    ns_cancel_token_cancel(c->token);
    c->cancelled = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* The third chunk wakes another thread that cancels; the callback waits for it. */
static int32_t wait_for_cancel(const char *utf8, size_t len, void *user) {
    (void)utf8;
    (void)len;
    struct canceller *c = user;
    pthread_mutex_lock(&c->lock);
    c->chunks++;
    pthread_cond_broadcast(&c->cond);
    if (c->chunks == 3)
        while (!c->cancelled) pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    return NS_CONTINUE;
}

static void cancel_mid_decode(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    struct canceller c = {0};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    CHECK(ns_cancel_token_new(&c.token) == NS_OK, "token");
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello there";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 60;
    r.cancel = c.token;
    pthread_t t;
    pthread_create(&t, NULL, cancel_thread, &c);
    ns_generation_stats st;
    st.struct_size = sizeof st;
    expect(ns_generate_stream(g, &r, wait_for_cancel, &c, &st, NULL), NS_ERR_CANCELLED, "cancelled");
    pthread_join(t, NULL);
    CHECK(st.stop_reason == NS_STOP_CANCELLED && st.generated_tokens < 60, "stats after cancel: %d %zu", st.stop_reason,
          st.generated_tokens);
    /* A cancelled token cancels at once; after reset it is usable again. */
    expect(ns_generate_stream(g, &r, NULL, NULL, &st, NULL), NS_ERR_CANCELLED, NULL);
    CHECK(st.generated_tokens == 0, "generated after pre-cancel");
    ns_cancel_token_reset(c.token);
    expect(ns_generate_stream(g, &r, NULL, NULL, &st, NULL), NS_OK, NULL);
    ns_cancel_token_free(c.token);
    ns_generator_free(g);
}

struct queued_job {
    ns_generator *g;
    ns_cancel_token *token;
    ns_status status;
    double returned_at;
};

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int holding, released;

/* Holds the generator's only session inside the first chunk until released. */
static int32_t hold_session(const char *utf8, size_t len, void *user) {
    (void)utf8;
    (void)len;
    (void)user;
    pthread_mutex_lock(&hold_lock);
    if (!holding) {
        holding = 1;
        pthread_cond_broadcast(&hold_cond);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 3; /* a broken cancel fails the check below instead of hanging */
        while (!released && pthread_cond_timedwait(&hold_cond, &hold_lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&hold_lock);
    return NS_CONTINUE;
}

static double now_ms(void);

static void *run_generation(void *arg) {
    struct queued_job *job = arg;
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello there";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 20;
    r.cancel = job->token;
    job->status = ns_generate_stream(job->g, &r, job->token ? NULL : hold_session, NULL, NULL, NULL);
    job->returned_at = now_ms();
    return NULL;
}

/* max_sessions 1: one generation runs, a second waits for the session; cancelling the
 * waiting one returns NS_ERR_CANCELLED within 50 ms, and the running one finishes. */
static void cancel_while_queued(void) {
    ns_generator_options o;
    ns_generator_options_init(&o, sizeof o);
    o.model_path = tiny("gen-llama");
    o.max_sessions = 1;
    ns_generator *g = NULL;
    CHECK(ns_generator_new(&o, &g, NULL) == NS_OK, "loading gen-llama");
    struct queued_job running = {g, NULL, NS_OK, 0}, queued = {g, NULL, NS_OK, 0};
    CHECK(ns_cancel_token_new(&queued.token) == NS_OK, "token");
    pthread_t tr, tq;
    pthread_create(&tr, NULL, run_generation, &running);
    pthread_mutex_lock(&hold_lock);
    while (!holding) pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    pthread_create(&tq, NULL, run_generation, &queued);
    usleep(100 * 1000); /* it is now waiting for the session */
    double cancelled_at = now_ms();
    ns_cancel_token_cancel(queued.token);
    pthread_join(tq, NULL);
    pthread_mutex_lock(&hold_lock);
    released = 1;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    pthread_join(tr, NULL);
    printf("queued generation cancelled: returned %.1f ms after the cancel\n", queued.returned_at - cancelled_at);
    CHECK(queued.status == NS_ERR_CANCELLED, "queued: %s", ns_status_string(queued.status));
    CHECK(queued.returned_at - cancelled_at < 50, "the queued cancel took %.1f ms", queued.returned_at - cancelled_at);
    CHECK(running.status == NS_OK, "running: %s", ns_status_string(running.status));
    ns_cancel_token_free(queued.token);
    ns_generator_free(g);
}

static void empty_stop_string(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    const char *stops[] = {"ok", ""};
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello there";
    r.stop = stops;
    r.stop_count = 2;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "stop string 1 is empty");
    ns_generator_free(g);
}

struct prefill_cancel {
    ns_cancel_token *token;
    double cancelled_at;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *cancel_after_50ms(void *arg) {
    struct prefill_cancel *p = arg;
    usleep(50 * 1000);
    p->cancelled_at = now_ms();
    ns_cancel_token_cancel(p->token);
    return NULL;
}

/* argv: a real model folder (prefill of a long prompt takes long enough to interrupt). */
static void cancel_mid_prefill(const char *model) {
    ns_generator *g = load_generator(model);
    char *prompt = malloc(64 * 1024);
    prompt[0] = 0;
    for (int i = 0; i < 300; i++) strcat(prompt, "The meeting covered budgets, hiring and the roadmap. ");
    struct prefill_cancel p = {0};
    ns_cancel_token_new(&p.token);
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = prompt;
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 8;
    r.cancel = p.token;
    pthread_t t;
    pthread_create(&t, NULL, cancel_after_50ms, &p);
    ns_generation_stats st;
    st.struct_size = sizeof st;
    double start = now_ms();
    ns_status s = ns_generate_stream(g, &r, NULL, NULL, &st, NULL);
    double end = now_ms();
    pthread_join(t, NULL);
    expect(s, NS_ERR_CANCELLED, "cancelled");
    CHECK(st.generated_tokens == 0, "prefill was not interrupted: %zu tokens generated", st.generated_tokens);
    printf("prefill of %zu tokens cancelled: returned %.1f ms after the cancel (call took %.1f ms)\n", st.prompt_tokens,
           end - p.cancelled_at, end - start);
    CHECK(end - p.cancelled_at < 500, "cancel took %.1f ms", end - p.cancelled_at);
    ns_cancel_token_free(p.token);
    free(prompt);
    ns_generator_free(g);
}

static void free_null(void) {
    ns_embedder_free(NULL);
    ns_generator_free(NULL);
    ns_cancel_token_free(NULL);
    CHECK(strcmp(ns_last_error_message(), "") == 0, "free(NULL) set an error");
}

static void internal_panic(void) {
    expect(ns_debug_trigger_panic(), NS_ERR_INTERNAL, "ns_debug_trigger_panic was called");
    /* The library keeps working after a caught panic. */
    ns_embedder *e = load_embedder("embed-bert");
    ns_embedder_free(e);
}

static void bad_sampling_values(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hi";
    r.sampling = NS_SAMPLING_CUSTOM;
    r.temperature = NAN;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "temperature");
    r.temperature = 0.7f;
    r.top_p = -1.0f;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "top_p");
    r.top_p = 1.0f;
    r.sampling = 42;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "sampling 42");
    ns_generator_free(g);
}

static void chat_without_template(void) {
    ns_generator *g = load_generator(tiny("gen-notemplate"));
    ns_chat_message m[] = {{"user", "hi"}};
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.messages = m;
    r.message_count = 1;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_UNSUPPORTED, "no chat template");
    r.messages = NULL;
    r.message_count = 0;
    r.prompt = "raw prompts still work";
    r.max_new_tokens = 4;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_OK, NULL);
    ns_generator_free(g);
}

static void prompt_too_long(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    ns_generator_info info;
    info.struct_size = sizeof info;
    expect(ns_generator_get_info(g, &info), NS_OK, NULL);
    char *prompt = malloc(info.context_length * 8 + 1);
    prompt[0] = 0;
    for (size_t i = 0; i < info.context_length; i++) strcat(prompt, "x y ");
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = prompt;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_CONTEXT_OVERFLOW, "context");
    free(prompt);
    ns_generator_free(g);
}

static void use_after_free_detected(void) {
    /* Not guaranteed (the memory may be reused), but cheap to detect while it is not. */
    ns_cancel_token *t = NULL;
    ns_cancel_token_new(&t);
    ns_cancel_token *copy = t;
    ns_cancel_token_free(t);
    ns_cancel_token *other = NULL;
    ns_cancel_token_new(&other); /* likely reuses the block: must not be confused with it */
    if (other != copy) expect(ns_cancel_token_cancel(copy), NS_ERR_INVALID_ARGUMENT, "not a live handle");
    ns_cancel_token_free(other);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 18];

static void collect_log(int32_t level, const char *message, void *user) {
    pthread_mutex_lock(&log_lock);
    (*(int *)user)++;
    if (strlen(log_text) + strlen(message) + 16 < sizeof log_text)
        sprintf(log_text + strlen(log_text), "%d %s\n", level, message);
    pthread_mutex_unlock(&log_lock);
}

static void log_callback(void) {
    int count = 0;
    expect(ns_set_log_callback(collect_log, &count, 9), NS_ERR_INVALID_ARGUMENT, "max_level 9");
    expect(ns_set_log_callback(collect_log, &count, NS_LOG_INFO), NS_OK, NULL);
    ns_embedder *e = load_embedder("embed-bert");
    CHECK(strstr(log_text, "3 loaded ONNX Runtime") != NULL, "no runtime-loaded message in:\n%s", log_text);
    /* "auto: this build has no GPU provider ..." on a CPU build; "auto: tried directml, not
     * usable: ..." on the Windows build (feature directml) with a CPU-only ONNX Runtime. */
    CHECK(strstr(log_text, "auto: ") != NULL && strstr(log_text, "using CPU") != NULL, "no fallback message in:\n%s",
          log_text);
    expect(ns_set_log_callback(NULL, NULL, NS_LOG_INFO), NS_OK, NULL);
    int before = count;
    ns_embedder_free(e);
    e = load_embedder("embed-bert");
    CHECK(count == before, "callback called after removal");
    ns_embedder_free(e);
}

/* argv: the expected greedy ids of "hello world" (comma-separated, from expected.json).
 * The ids come back through request.token_ids_out; a caller built against the first
 * released ns_generate_request (without those fields) still works. */
static void token_ids_and_older_request(const char *expected) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    uint32_t want[64];
    size_t n_want = 0;
    for (const char *p = expected; *p && n_want < 64; p++) {
        want[n_want++] = (uint32_t)strtoul(p, (char **)&p, 10);
        if (!*p) break;
    }
    uint32_t ids[64] = {0};
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello world";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = (uint32_t)n_want;
    r.token_ids_out = ids;
    r.token_ids_capacity = 64;
    ns_generation_stats st;
    st.struct_size = sizeof st;
    expect(ns_generate_stream(g, &r, NULL, NULL, &st, NULL), NS_OK, NULL);
    CHECK(st.generated_tokens == n_want, "generated %zu, want %zu", st.generated_tokens, n_want);
    CHECK(memcmp(ids, want, n_want * sizeof(uint32_t)) == 0, "token ids differ from the reference");
    /* An older caller: its struct ends before token_ids_out. */
    struct older {
        char bytes[offsetof(ns_generate_request, token_ids_out)];
    } old;
    ns_generate_request_init((ns_generate_request *)&old, sizeof old);
    ns_generate_request *o = (ns_generate_request *)&old;
    CHECK(o->struct_size == sizeof old, "older struct_size %u", o->struct_size);
    o->prompt = "hello world";
    o->sampling = NS_SAMPLING_GREEDY;
    o->max_new_tokens = (uint32_t)n_want;
    expect(ns_generate_stream(g, o, NULL, NULL, &st, NULL), NS_OK, NULL);
    CHECK(st.generated_tokens == n_want, "older request generated %zu", st.generated_tokens);
    r.token_ids_out = NULL;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_NULL_POINTER, "token_ids_out is NULL");
    ns_generator_free(g);
}

/* Prompt lookup through request.lookup_max_draft: greedy ids identical with it on (the
 * default) and off (0), drafts made and some accepted over prompts of repeated word pairs
 * (the tiny decoder repeats their n-grams), counted in the stats; a caller built against
 * the first released ns_generation_stats gets its fields and nothing past them; more than
 * 64 is refused. */
static void lookup_option_and_stats(void) {
    ns_generator *g = load_generator(tiny("gen-fused"));
    static const char *words[] = {"the", "fox", "hello", "world", "abc", "1", "2", "a", "b", "to"};
    size_t n_words = sizeof words / sizeof *words, drafted = 0, accepted = 0, last_generated = 0;
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    CHECK(r.lookup_max_draft == 8, "default lookup_max_draft %u", r.lookup_max_draft);
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 60;
    for (size_t i = 0; i < n_words; i++) {
        for (size_t j = 0; j < n_words; j++) {
            char prompt[128];
            snprintf(prompt, sizeof prompt, "%s %s %s %s %s %s", words[i], words[j], words[i], words[j], words[i],
                     words[j]);
            uint32_t plain[60] = {0}, fast[60] = {0};
            ns_generation_stats sp, sf;
            sp.struct_size = sizeof sp;
            sf.struct_size = sizeof sf;
            r.prompt = prompt;
            r.token_ids_capacity = 60;
            r.lookup_max_draft = 0;
            r.token_ids_out = plain;
            expect(ns_generate_stream(g, &r, NULL, NULL, &sp, NULL), NS_OK, NULL);
            r.lookup_max_draft = 8;
            r.token_ids_out = fast;
            expect(ns_generate_stream(g, &r, NULL, NULL, &sf, NULL), NS_OK, NULL);
            CHECK(sp.generated_tokens == sf.generated_tokens && memcmp(plain, fast, sizeof plain) == 0,
                  "%s: lookup changed the greedy tokens", prompt);
            CHECK(sp.drafted_tokens == 0 && sp.accepted_tokens == 0, "%s: drafts with lookup off", prompt);
            CHECK(sf.accepted_tokens <= sf.drafted_tokens, "%s: accepted %zu of %zu", prompt, sf.accepted_tokens,
                  sf.drafted_tokens);
            drafted += sf.drafted_tokens;
            accepted += sf.accepted_tokens;
            last_generated = sf.generated_tokens;
        }
    }
    CHECK(accepted > 0 && accepted < drafted, "accepted %zu of %zu drafted: both outcomes must occur", accepted,
          drafted);
    /* The first released stats end at total_ms: nothing past it is written. */
    struct {
        ns_generation_stats stats;
        char guard[16];
    } old;
    memset(&old, 0x5a, sizeof old);
    old.stats.struct_size = offsetof(ns_generation_stats, drafted_tokens);
    r.token_ids_out = NULL;
    r.token_ids_capacity = 0;
    expect(ns_generate_stream(g, &r, NULL, NULL, &old.stats, NULL), NS_OK, NULL);
    CHECK(old.stats.struct_size == offsetof(ns_generation_stats, drafted_tokens), "older stats struct_size %u",
          old.stats.struct_size);
    CHECK(old.stats.generated_tokens == last_generated, "older stats generated %zu, want %zu",
          old.stats.generated_tokens, last_generated);
    const unsigned char *tail = (const unsigned char *)&old.stats.drafted_tokens;
    for (size_t k = 0; k < sizeof old - offsetof(ns_generation_stats, drafted_tokens); k++)
        CHECK(tail[k] == 0x5a, "byte %zu past the older stats was written", k);
    r.lookup_max_draft = 65;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "more than 64");
    ns_generator_free(g);
}

/* ---- threads ----------------------------------------------------------------------- */

#define THREADS 8
#define N_TEXTS 6
static const char *THREAD_TEXTS[N_TEXTS] = {"alpha beta", "a much longer text about cats and dogs and mats", "",
                                             "東京は日本の首都です", "pizza 🍕", "the end"};

struct embed_job {
    ns_embedder *embedder;
    float *out;
    ns_status status;
};

static void *embed_many(void *arg) {
    struct embed_job *job = arg;
    size_t dim = ns_embedder_dimension(job->embedder);
    for (int round = 0; round < 20 && job->status == NS_OK; round++)
        job->status = ns_embed_batch(job->embedder, THREAD_TEXTS, NULL, N_TEXTS, job->out, N_TEXTS * dim, NULL);
    return NULL;
}

static void threads_share_embedder(void) {
    ns_embedder *e = load_embedder("embed-bert");
    size_t dim = ns_embedder_dimension(e);
    float *single = malloc(N_TEXTS * dim * sizeof(float));
    expect(ns_embed_batch(e, THREAD_TEXTS, NULL, N_TEXTS, single, N_TEXTS * dim, NULL), NS_OK, NULL);
    pthread_t threads[THREADS];
    struct embed_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i].embedder = e;
        jobs[i].out = malloc(N_TEXTS * dim * sizeof(float));
        jobs[i].status = NS_OK;
        pthread_create(&threads[i], NULL, embed_many, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].status == NS_OK, "thread %d: %s", i, ns_status_string(jobs[i].status));
        CHECK(memcmp(jobs[i].out, single, N_TEXTS * dim * sizeof(float)) == 0, "thread %d got different bits", i);
        free(jobs[i].out);
    }
    free(single);
    ns_embedder_free(e);
}

struct gen_job {
    ns_generator *generator;
    char text[4096];
    size_t len;
    ns_status status;
};

static int32_t append(const char *utf8, size_t len, void *user) {
    struct gen_job *job = user;
    if (job->len + len < sizeof job->text) {
        memcpy(job->text + job->len, utf8, len);
        job->len += len;
        job->text[job->len] = 0;
    }
    return NS_CONTINUE;
}

static void *generate_one(void *arg) {
    struct gen_job *job = arg;
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    r.prompt = "hello there";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 24;
    job->status = ns_generate_stream(job->generator, &r, append, job, NULL, NULL);
    return NULL;
}

static void two_generations_at_once(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    struct gen_job solo = {g, {0}, 0, NS_OK};
    generate_one(&solo);
    CHECK(solo.status == NS_OK && solo.len > 0, "solo generation");
    struct gen_job a = {g, {0}, 0, NS_OK}, b = {g, {0}, 0, NS_OK};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, generate_one, &a);
    pthread_create(&tb, NULL, generate_one, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.status == NS_OK && b.status == NS_OK, "concurrent generation failed");
    CHECK(strcmp(a.text, solo.text) == 0 && strcmp(b.text, solo.text) == 0, "concurrent greedy texts differ");
    ns_generator_free(g);
}

struct text_buf {
    char text[4096];
    size_t len;
};

static int32_t append_text(const char *utf8, size_t len, void *user) {
    struct text_buf *b = user;
    if (b->len + len < sizeof b->text) {
        memcpy(b->text + b->len, utf8, len);
        b->len += len;
        b->text[b->len] = 0;
    }
    return NS_CONTINUE;
}

/* Structured output through the request's constraint fields: choices and a JSON Schema
 * give exactly what they allow (the tiny model's random weights never would by chance),
 * ending with NS_STOP_EOS; malformed constraints and bad fields are statuses with messages
 * naming the error; a caller built before the fields existed gets free text. */
static void constraints(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    CHECK(r.constraint_kind == NS_CONSTRAINT_NONE, "default constraint_kind %d", r.constraint_kind);
    r.prompt = "the fox the fox";
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 60;
    ns_generation_stats st;
    st.struct_size = sizeof st;

    const char *choices[] = {"urgent", "later", "someday"};
    r.constraint_kind = NS_CONSTRAINT_CHOICES;
    r.choices = choices;
    r.choice_count = 3;
    struct text_buf out = {{0}, 0};
    expect(ns_generate_stream(g, &r, append_text, &out, &st, NULL), NS_OK, NULL);
    CHECK(!strcmp(out.text, "urgent") || !strcmp(out.text, "later") || !strcmp(out.text, "someday"),
          "choice output \"%s\"", out.text);
    CHECK(st.stop_reason == NS_STOP_EOS, "choice stop reason %d", st.stop_reason);

    r.constraint_kind = NS_CONSTRAINT_JSON_SCHEMA;
    r.constraint = "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}, "
                   "\"required\": [\"ok\"], \"additionalProperties\": false, "
                   "\"x-guidance\": {\"whitespace_flexible\": false}}";
    out.len = 0;
    out.text[0] = 0;
    expect(ns_generate_stream(g, &r, append_text, &out, &st, NULL), NS_OK, NULL);
    CHECK(!strcmp(out.text, "{\"ok\":true}") || !strcmp(out.text, "{\"ok\":false}"), "JSON output \"%s\"",
          out.text);
    CHECK(st.stop_reason == NS_STOP_EOS, "JSON stop reason %d", st.stop_reason);

    r.constraint_kind = NS_CONSTRAINT_REGEX;
    r.constraint = "ab(c";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "unclosed group");
    r.constraint_kind = NS_CONSTRAINT_JSON_SCHEMA;
    r.constraint = "{\"type\": \"string\", \"minLength\": 3, \"maxLength\": 1}";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "minLength");
    r.constraint_kind = NS_CONSTRAINT_GRAMMAR;
    r.constraint = NULL;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_NULL_POINTER, "request.constraint is NULL");
    r.constraint_kind = 9;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "NS_CONSTRAINT_");
    r.constraint_kind = NS_CONSTRAINT_CHOICES;
    r.choices = NULL;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_NULL_POINTER, "request.choices");
    r.choice_count = 0;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "choice list is empty");

    /* A caller of the second release: its struct ends after lookup_max_draft. */
    struct older {
        char bytes[offsetof(ns_generate_request, lookup_max_draft) + sizeof(uint32_t)];
    } old;
    ns_generate_request_init((ns_generate_request *)&old, sizeof old);
    ns_generate_request *o = (ns_generate_request *)&old;
    o->prompt = "the fox the fox";
    o->sampling = NS_SAMPLING_GREEDY;
    o->max_new_tokens = 20;
    expect(ns_generate_stream(g, o, NULL, NULL, &st, NULL), NS_OK, NULL);
    CHECK(st.generated_tokens > 0, "older request generated nothing");
    ns_generator_free(g);
}

struct calls_seen {
    size_t count;
    char name[64];
    char arguments[256];
    struct text_buf text;
};

static int32_t append_call_text(const char *utf8, size_t len, void *user) {
    return append_text(utf8, len, &((struct calls_seen *)user)->text);
}

static void record_call(size_t index, const char *name, const char *arguments_json, void *user) {
    struct calls_seen *seen = user;
    CHECK(index == seen->count, "call index %zu after %zu calls", index, seen->count);
    seen->count++;
    snprintf(seen->name, sizeof seen->name, "%s", name);
    snprintf(seen->arguments, sizeof seen->arguments, "%s", arguments_json);
}

/* Tool calls through the request's tool fields: a chat in JSON (messages_json), tools
 * rendered by the template, exactly one call required (constrained: the tiny model's
 * random weights never write one by chance), delivered to on_tool_call and counted in the
 * stats; a follow-up turn with the call and its result renders; bad fields are statuses
 * with messages; a caller built before the fields existed keeps working. */
static void tools(void) {
    ns_generator *g = load_generator(tiny("gen-llama"));
    ns_generator_info info;
    info.struct_size = sizeof info;
    expect(ns_generator_get_info(g, &info), NS_OK, NULL);
    CHECK(info.tools == 2, "gen-llama renders and parses tools: info.tools %d", info.tools);
    CHECK(info.lookup_off_reason == NULL, "gen-llama's fp32 graph keeps lookup on: %s", info.lookup_off_reason);
    {
        /* Its dynamic int8 variant (DynamicQuantizeLinear) keeps prompt lookup off and says why. */
        ns_generator_options o;
        ns_generator_options_init(&o, sizeof o);
        o.model_path = tiny("gen-llama");
        o.variant = "quantized";
        ns_generator *q = NULL;
        expect(ns_generator_new(&o, &q, NULL), NS_OK, NULL);
        ns_generator_info qi;
        qi.struct_size = sizeof qi;
        expect(ns_generator_get_info(q, &qi), NS_OK, NULL);
        CHECK(qi.lookup_off_reason != NULL && strstr(qi.lookup_off_reason, "DynamicQuantizeLinear") != NULL,
              "the dynamic int8 graph's lookup_off_reason: %s", qi.lookup_off_reason ? qi.lookup_off_reason : "NULL");
        ns_generator_free(q);
    }
    ns_generate_request r;
    ns_generate_request_init(&r, sizeof r);
    CHECK(r.tool_choice == NS_TOOL_CHOICE_AUTO && r.tools == NULL && r.on_tool_call == NULL,
          "tool defaults %d", r.tool_choice);
    r.messages_json = "[{\"role\": \"user\", \"content\": \"find 3\"}]";
    r.tools = "[{\"type\": \"function\", \"function\": {\"name\": \"add\", \"parameters\": {\"type\": \"object\", "
              "\"properties\": {\"t\": {\"type\": \"string\", \"maxLength\": 2}}, \"required\": [\"t\"]}}}, "
              "{\"type\": \"function\", \"function\": {\"name\": \"find\", \"parameters\": {\"type\": \"object\", "
              "\"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 9}}, \"required\": [\"n\"]}}}]";
    r.tool_choice = NS_TOOL_CHOICE_ONE;
    r.on_tool_call = record_call;
    r.sampling = NS_SAMPLING_GREEDY;
    r.max_new_tokens = 100;
    ns_generation_stats st;
    st.struct_size = sizeof st;
    struct calls_seen seen;
    memset(&seen, 0, sizeof seen);
    expect(ns_generate_stream(g, &r, append_call_text, &seen, &st, NULL), NS_OK, NULL);
    CHECK(st.stop_reason == NS_STOP_EOS, "tool call stop reason %d", st.stop_reason);
    CHECK(seen.count == 1 && st.tool_calls == 1, "%zu calls seen, stats say %zu", seen.count, st.tool_calls);
    CHECK(!strcmp(seen.name, "add") || !strcmp(seen.name, "find"), "tool name \"%s\"", seen.name);
    CHECK(seen.arguments[0] == '{' && (strstr(seen.arguments, "\"t\":") || strstr(seen.arguments, "\"n\":")),
          "arguments %s", seen.arguments);
    CHECK(!strncmp(seen.text.text, "<tool_call>\n{\"name\": \"", 20), "text \"%s\"", seen.text.text);

    /* The follow-up turn: the call and the tool's result, in transformers' JSON form. */
    ns_generate_request f;
    ns_generate_request_init(&f, sizeof f);
    f.messages_json = "[{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"add ab\"}, {\"role\": \"assistant\", \"content\": null, "
                      "\"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"add\", "
                      "\"arguments\": \"{\\\"t\\\": \\\"ab\\\"}\"}}]}, {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"ok\"}]";
    f.sampling = NS_SAMPLING_GREEDY;
    f.max_new_tokens = 4;
    expect(ns_generate_stream(g, &f, NULL, NULL, &st, NULL), NS_OK, NULL);
    CHECK(st.prompt_tokens > 30 && st.tool_calls == 0, "follow-up: %zu prompt tokens, %zu calls", st.prompt_tokens,
          st.tool_calls);

    r.tool_choice = 7;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "NS_TOOL_CHOICE_");
    r.tool_choice = NS_TOOL_CHOICE_REQUIRED;
    r.constraint_kind = NS_CONSTRAINT_REGEX;
    r.constraint = "a";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "cannot be combined");
    r.constraint_kind = NS_CONSTRAINT_NONE;
    const char *tools_json = r.tools;
    r.tools = "[1]";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "request.tools: tool 0");
    r.tools = NULL;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "tools offer none");
    r.tools = tools_json;
    r.messages_json = "{\"role\": \"user\"}";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "messages_json");
    r.prompt = "x";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "more than one");
    r.messages_json = NULL;
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_INVALID_ARGUMENT, "chat messages");
    ns_generator_free(g);
    g = load_generator(tiny("gen-gemma"));
    info.struct_size = sizeof info;
    expect(ns_generator_get_info(g, &info), NS_OK, NULL);
    CHECK(info.tools == 0, "Gemma 3's template renders no tools: info.tools %d", info.tools);
    r.prompt = NULL;
    r.messages_json = "[{\"role\": \"user\", \"content\": \"hi\"}]";
    expect(ns_generate_stream(g, &r, NULL, NULL, NULL, NULL), NS_ERR_UNSUPPORTED, "does not render tools");

    /* A caller of the third release: its struct ends after choice_count. */
    struct older {
        char bytes[offsetof(ns_generate_request, choice_count) + sizeof(size_t)];
    } old;
    ns_generate_request_init((ns_generate_request *)&old, sizeof old);
    ns_generate_request *o = (ns_generate_request *)&old;
    o->prompt = "the fox";
    o->sampling = NS_SAMPLING_GREEDY;
    o->max_new_tokens = 5;
    expect(ns_generate_stream(g, o, NULL, NULL, &st, NULL), NS_OK, NULL);
    CHECK(st.generated_tokens > 0 && st.tool_calls == 0, "older request: %zu tokens", st.generated_tokens);
    ns_generator_free(g);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASE [ARG]\n", argv[0]);
        return 2;
    }
    const char *c = argv[1];
    const char *arg = argc > 2 ? argv[2] : "";
#define CASE(name) else if (strcmp(c, #name) == 0) name()
#define CASE_ARG(name) else if (strcmp(c, #name) == 0) name(arg)
    if (0) {
    }
    CASE(null_handle);
    CASE(null_out_pointer);
    CASE(null_texts);
    CASE(invalid_utf8);
    CASE(count_zero);
    CASE(buffer_too_small);
    CASE(empty_text_is_valid);
    CASE(embed_prompt_and_truncation);
    CASE(struct_size_zero);
    CASE(struct_size_too_large);
    CASE(missing_model_folder);
    CASE(init_sizes);
    CASE(calls_during_thread_teardown);
    CASE_ARG(truncated_onnx);
    CASE_ARG(garbage_tokenizer);
    CASE(runtime_path_missing);
    CASE_ARG(runtime_not_a_library);
    CASE(cancel_while_queued);
    CASE(empty_stop_string);
    CASE_ARG(runtime_wrong_library);
    CASE(wrong_model_kind);
    CASE(callback_stops_at_once);
    CASE(cancel_mid_decode);
    CASE_ARG(cancel_mid_prefill);
    CASE(free_null);
    CASE(internal_panic);
    CASE(bad_sampling_values);
    CASE(chat_without_template);
    CASE(prompt_too_long);
    CASE(use_after_free_detected);
    CASE(log_callback);
    CASE_ARG(token_ids_and_older_request);
    CASE(lookup_option_and_stats);
    CASE(threads_share_embedder);
    CASE(two_generations_at_once);
    CASE(constraints);
    CASE(tools);
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    printf("ok %s\n", c);
    return 0;
}
