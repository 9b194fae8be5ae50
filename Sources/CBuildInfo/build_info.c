#include "CBuildInfo.h"

#ifndef ZTP_BUILD_COMMIT
#define ZTP_BUILD_COMMIT "unknown"
#endif

const char *ztp_build_commit(void) { return ZTP_BUILD_COMMIT; }
