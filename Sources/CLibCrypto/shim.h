// OpenSSL's libcrypto, from Debian's libssl-dev: only its message digests are used (SHA-256 with
// the CPU's SHA extensions where it has them, many times faster than libsodium's portable code).
#include <openssl/evp.h>
