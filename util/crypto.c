/* crypto.c: hashing and constant-time comparison, on OpenSSL's libcrypto. */
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
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

/* SHA-256 fetched from the provider once: OpenSSL 3's one-shot SHA256() fetches it on every
 * call, which cost a token look-up (one hash per request) about 6,000 instructions. Kept for the
 * process's life. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void wxs__sha256_hex(const void *p, size_t len, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md == NULL || EVP_Digest(p, len, md, &mdlen, sha256_md, NULL) != 1)
        SHA256(p, len, md); /* no provider object: the slow path, same digest */
    to_hex(md, sizeof md, hex);
}

int wxs__ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
