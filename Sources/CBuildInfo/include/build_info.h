/* build_info.h: what this build of denalid is: the package version and the git commit it was built from. */
#ifndef DENALI_BUILD_INFO_H
#define DENALI_BUILD_INFO_H

/** The package version, for example "0.1.0" (the one place it is written; the Makefile reads it from here). */
#define DENALI_PACKAGE_VERSION "0.1.0"

/** The package version: DENALI_PACKAGE_VERSION. */
const char *denali_package_version(void);

/** The git commit this build came from (12 hex digits, "-dirty" appended when the work tree had changes), or ""
 *  when the build had no git metadata (a plain `swift build`, or a source tree without .git). */
const char *denali_git_commit(void);

#endif /* DENALI_BUILD_INFO_H */
