/* fuzzer_driver.c: nothing to compile; the header declares libFuzzer's driver for the Swift harnesses. */
#include "fuzzer_driver.h"
