/* abi.c: makes the header-only DenaliABI module a buildable target (and compiles its static layout checks). */
#include "denali/abi.h"
#include "denali/site_image.h"
