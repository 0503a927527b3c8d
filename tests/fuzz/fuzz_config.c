/* libFuzzer target: arbitrary bytes as a YAML/JSON agent configuration. The loader must reject or
 * accept them without crashing, leaking or taking unbounded time or memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/agentcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *errors = NULL;
    /* No directory in the name: relative secret files would be read from the fuzzer's cwd. */
    struct fo_agentcfg *c = fo_agentcfg_load_buffer("fuzz.yaml", (const char *)data, size, &errors);
    if (c) {
        /* A loaded config has a hash and no error text. */
        if (!c->hash || strlen(c->hash) != 64 || errors)
            abort();
        fo_agentcfg_free(c);
    } else if (!errors || !*errors) {
        abort(); /* every refusal says why */
    }
    free(errors);
    return 0;
}
