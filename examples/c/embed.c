/* Embed a few texts and print their cosine similarities.
 *
 *   cc examples/c/embed.c -Iinclude -Ltarget/release -lnodespace -o embed
 *   ./embed MODEL_DIR "first text" "second text" ...
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodespace.h"

static int fail(const char *what, ns_status status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, ns_status_string(status), ns_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXT...\n", argv[0]);
        return 2;
    }
    ns_embedder_options options;
    ns_embedder_options_init(&options, sizeof options);
    options.model_path = argv[1];

    ns_embedder *embedder = NULL;
    ns_status status = ns_embedder_new(&options, &embedder, NULL);
    if (status != NS_OK) return fail("ns_embedder_new", status);

    ns_embedder_info info;
    info.struct_size = sizeof info;
    ns_embedder_get_info(embedder, &info);
    printf("model %s: %zu dimensions, max %zu tokens, provider %s\n", info.model_file, info.dimension, info.max_length,
           info.provider);

    size_t count = (size_t)(argc - 2);
    const char *const *texts = (const char *const *)&argv[2];
    size_t dim = ns_embedder_dimension(embedder);
    float *vectors = malloc(count * dim * sizeof(float));
    status = ns_embed_batch(embedder, texts, NULL, count, vectors, count * dim, NULL);
    if (status != NS_OK) {
        free(vectors);
        ns_embedder_free(embedder);
        return fail("ns_embed_batch", status);
    }
    for (size_t i = 0; i < count; i++) {
        printf("[%zu] %.4f %.4f %.4f ... %s\n", i, vectors[i * dim], vectors[i * dim + 1], vectors[i * dim + 2], texts[i]);
    }
    /* Vectors are L2-normalized: the dot product is the cosine similarity. */
    for (size_t i = 0; i < count; i++) {
        printf("cos[%zu]:", i);
        for (size_t j = 0; j < count; j++) {
            double dot = 0;
            for (size_t k = 0; k < dim; k++) dot += (double)vectors[i * dim + k] * vectors[j * dim + k];
            printf(" %.4f", dot);
        }
        printf("\n");
    }
    free(vectors);
    ns_embedder_free(embedder);
    return 0;
}
