#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/* The source commit this binary was built from. Swift has no way to take a value from the
 * build, C does: Package.swift defines ZTP_BUILD_COMMIT for this target from the environment
 * variable of that name, which scripts/package sets; every other build (swift build in a
 * checkout, the tests) says "unknown". */
const char *ztp_build_commit(void);

#endif
