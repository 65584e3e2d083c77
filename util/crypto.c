/* crypto.c: hashing and constant-time comparison, on OpenSSL's libcrypto. */
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void wxs__sha1_hex(const void *a, size_t alen, const void *b, size_t blen, char hex[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, a, alen) != 1 || EVP_DigestUpdate(ctx, b, blen) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
        /* only on allocation failure: a digest no signature can match */
        memset(hex, 'x', 40);
        hex[40] = '\0';
        EVP_MD_CTX_free(ctx);
        return;
    }
    EVP_MD_CTX_free(ctx);
    to_hex(md, sizeof md, hex);
}

void wxs__sha256_hex(const void *p, size_t len, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, len, md);
    to_hex(md, sizeof md, hex);
}

int wxs__ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
