// Umbrella for libsodium (Debian's libsodium-dev); Swift imports it as CSodium.
#ifndef CSODIUM_SHIM_H
#define CSODIUM_SHIM_H
#include <sodium.h>
#endif
