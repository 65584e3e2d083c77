/* fuzz.h: what every libFuzzer driver in fuzz/ shares: the entry point's prototype and a check
 * that reports a broken invariant (both sides where it helps) and aborts, so that libFuzzer
 * keeps the input as a crash. */
#ifndef WXS_FUZZ_H
#define WXS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Abort with file, line and a message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                     \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#endif /* WXS_FUZZ_H */
