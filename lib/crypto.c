/* crypto.c: hashing, constant-time comparison and randomness, on OpenSSL's libcrypto. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
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

int wxs__random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : WXS_EIO;
}

int wxs__ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void wxs__base64(const void *p, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

void wxs_signature(const char *raw_data, size_t raw_len, const char *session_key, size_t key_len,
                   char hex[41])
{
    wxs__sha1_hex(raw_data, raw_len, session_key, key_len, hex);
}

int wxs_signature_verify(const char *raw_data, size_t raw_len, const char *session_key,
                         size_t key_len, const char *signature, size_t sig_len)
{
    char hex[41];
    wxs__sha1_hex(raw_data, raw_len, session_key, key_len, hex);
    return wxs__ct_equal(hex, 40, signature, sig_len);
}
