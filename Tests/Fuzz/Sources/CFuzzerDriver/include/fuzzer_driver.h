/* fuzzer_driver.h: libFuzzer's driver entry point (from libclang_rt.fuzzer, linked in by -sanitize=fuzzer). */
#ifndef FUZZER_DRIVER_H
#define FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/** Runs libFuzzer with the command line `argc`/`argv` on `callback` (the LLVMFuzzerTestOneInput of a harness). */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif /* FUZZER_DRIVER_H */
