/* memory_hints.c: the hints are inline functions in the header; SwiftPM wants one source file per C target. */
#include "memory_hints.h"
