/* Stream a chat answer to stdout.
 *
 *   cc examples/c/generate.c -Iinclude -Ltarget/release -lnodespace -o generate
 *   ./generate MODEL_DIR "Summarize: ..." [MAX_NEW_TOKENS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "nodespace.h"

/* Called on this thread for every piece of text; never after ns_generate_stream returns. */
static int32_t on_chunk(const char *utf8, size_t len, void *user_data) {
    size_t *total = user_data;
    *total += len;
    fwrite(utf8, 1, len, stdout);
    fflush(stdout);
    return NS_CONTINUE;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR USER_MESSAGE [MAX_NEW_TOKENS]\n", argv[0]);
        return 2;
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
    return 0;
}
