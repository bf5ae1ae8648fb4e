/* build_info.c: the build's version and commit. Package.swift defines DENALI_GIT_COMMIT for this file alone (from
 * the environment the Makefile sets), so that a new commit recompiles only this file and relinks denalid. */
#include "build_info.h"

#ifndef DENALI_GIT_COMMIT
#define DENALI_GIT_COMMIT ""
#endif

const char *denali_package_version(void) { return DENALI_PACKAGE_VERSION; }

const char *denali_git_commit(void) { return DENALI_GIT_COMMIT; }
