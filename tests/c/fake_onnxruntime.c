/* A stand-in for an ONNX Runtime library of a version nodespace does not support (1.10.0):
 * exports OrtGetApiBase like the real one. Used by the runtime_wrong_version case. */
#include <stddef.h>

typedef struct {
    const void *(*GetApi)(unsigned version);
    const char *(*GetVersionString)(void);
} OrtApiBase;

static const void *get_api(unsigned version) {
    (void)version;
    return NULL;
}
static const char *version_string(void) { return "1.10.0"; }
static const OrtApiBase base = {get_api, version_string};

const OrtApiBase *OrtGetApiBase(void) { return &base; }
