#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/* The source commit this binary was built from. Swift has no way to take a value from the
 * build command line, C does: scripts/package builds with
 *   -Xcc -DZTP_BUILD_COMMIT='"<git commit>"'
 * and every other build (swift build in a checkout, the tests) says "unknown". */
const char *ztp_build_commit(void);

#endif
