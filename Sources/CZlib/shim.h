// zlib, from Debian's zlib1g-dev: bundles are stored deflated in etcd.
#include <zlib.h>
