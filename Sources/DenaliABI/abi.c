/* abi.c: makes the header-only DenaliABI module a buildable target. */
#include "denali/abi.h"
