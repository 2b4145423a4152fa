/* Stream a chat answer to stdout; with a JSON Schema file, the answer is JSON that
 * validates against it (structured output); with --tools, the answer is one call to one of
 * the tools (its arguments valid against the tool's parameters), printed as it is parsed.
 *
 *   cc examples/c/generate.c -Iinclude -Ltarget/release -lnodespace -o generate
 *   ./generate MODEL_DIR "Summarize: ..." [MAX_NEW_TOKENS [JSON_SCHEMA_FILE | --tools TOOLS_FILE]]
 *   ./generate MODEL_DIR "Extract the action items: ..." 300 examples/action_items.schema.json
 *   ./generate MODEL_DIR "Remind me to call Bo at 5pm." 200 --tools examples/tools.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodespace.h"

/* Called on this thread for every piece of text; never after ns_generate_stream returns. */
static int32_t on_chunk(const char *utf8, size_t len, void *user_data) {
    size_t *total = user_data;
    *total += len;
    fwrite(utf8, 1, len, stdout);
    fflush(stdout);
    return NS_CONTINUE;
}

/* Called once per tool call, after the generation, before ns_generate_stream returns. */
static void on_tool_call(size_t index, const char *name, const char *arguments_json, void *user_data) {
    (void)user_data;
    printf("\ntool call %zu: %s %s", index, name, arguments_json);
}

/* The whole file as a NUL-terminated string (malloc'ed), or NULL. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char buf[4096];
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            char *grown = realloc(text, cap);
            if (grown == NULL) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        memcpy(text + len, buf, n);
        len += n;
    }
    fclose(f);
    if (text == NULL) text = calloc(1, 1);
    else text[len] = 0;
    return text;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR USER_MESSAGE [MAX_NEW_TOKENS [JSON_SCHEMA_FILE | --tools TOOLS_FILE]]\n",
                argv[0]);
        return 2;
    }
    int tools_given = argc > 5 && strcmp(argv[4], "--tools") == 0;
    const char *path = tools_given ? argv[5] : argc > 4 ? argv[4] : NULL;
    char *file = path != NULL ? read_file(path) : NULL;
    if (path != NULL && file == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    ns_generator_options options;
    ns_generator_options_init(&options, sizeof options);
    options.model_path = argv[1];
    ns_generator *generator = NULL;
    ns_status status = ns_generator_new(&options, &generator, NULL);
    if (status != NS_OK) {
        fprintf(stderr, "ns_generator_new: %s: %s\n", ns_status_string(status), ns_last_error_message());
        return 1;
    }

    ns_chat_message messages[] = {{"user", argv[2]}};
    ns_generate_request request;
    ns_generate_request_init(&request, sizeof request);
    request.messages = messages;
    request.message_count = 1;
    request.sampling = NS_SAMPLING_GREEDY;
    request.max_new_tokens = argc > 3 ? (uint32_t)atoi(argv[3]) : 128;
    if (tools_given) {
        /* The tools are rendered by the model's chat template; NS_TOOL_CHOICE_ONE makes the
         * answer exactly one valid call. A template without tools is NS_ERR_UNSUPPORTED. */
        request.tools = file;
        request.tool_choice = NS_TOOL_CHOICE_ONE;
        request.on_tool_call = on_tool_call;
    } else if (file != NULL) {
        /* Only JSON that validates can be written; NS_STOP_EOS when it is complete. A bad
         * schema is NS_ERR_INVALID_ARGUMENT, the message naming the error. */
        request.constraint_kind = NS_CONSTRAINT_JSON_SCHEMA;
        request.constraint = file;
    }

    ns_generation_stats stats;
    stats.struct_size = sizeof stats;
    size_t bytes = 0;
    status = ns_generate_stream(generator, &request, on_chunk, &bytes, &stats, NULL);
    printf("\n");
    if (status != NS_OK) {
        fprintf(stderr, "ns_generate_stream: %s: %s\n", ns_status_string(status), ns_last_error_message());
        ns_generator_free(generator);
        return 1;
    }
    fprintf(stderr, "[%zu prompt tokens, %zu generated, %zu bytes, stop reason %d, first token %.1f ms, %.1f tokens/s]\n",
            stats.prompt_tokens, stats.generated_tokens, bytes, stats.stop_reason, stats.time_to_first_token_ms,
            stats.decode_tokens_per_s);
    ns_generator_free(generator);
    free(file);
    return 0;
}
