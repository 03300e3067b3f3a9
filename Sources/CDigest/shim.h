#ifndef KPATCHCTL_CDIGEST_SHIM_H
#define KPATCHCTL_CDIGEST_SHIM_H
/* OpenSSL's libcrypto (libssl-dev), for SHA-256 through its EVP digest interface. */
#include <openssl/evp.h>
#endif
