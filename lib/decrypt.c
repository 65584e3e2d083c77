/* decrypt.c: WeChat's encryptedData (AES-128-CBC, PKCS#7, watermark.appid checked) and wxs_free
 * for the plaintext it hands over. Pure: no I/O, no context. (wxs_token_hash, the other pure
 * helper of the token API, is in token_record.c with the token's other pure parts.) */
#include "util.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define BLOCK_BYTES 16                                /* AES block, key (AES-128) and iv */
#define BLOCK_B64_CHARS 24                            /* base64 of 16 bytes, "==" included */
#define DATA_MAX_BYTES (64 * 1024)                    /* the largest ciphertext, decoded */
#define DATA_MAX_CHARS ((DATA_MAX_BYTES + 2) / 3 * 4) /* ... and its base64 length */
#define PLAIN_JSON_DEPTH 64                           /* DESIGN.md section 6: JSON nesting <= 64 */

/* ------------------------------------------------------------------ strict base64 */

/* The value of a character of the standard base64 alphabet (RFC 4648 section 4), else -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 strictly: a non-zero multiple of 4 characters of the alphabet, with
 * '=' padding only at the end, no whitespace, and the unused bits before the padding zero (so
 * each byte string has exactly one accepted spelling). out has room for n / 4 * 3 bytes; sets
 * *outlen. Returns 0 or WXS_EPARSE (out's content is then unspecified). */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    int rc = WXS_EPARSE;
    size_t o = 0;
    if (n == 0 || n % 4 != 0)
        goto out;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t word = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            int v = b64_value((unsigned char)in[i + k]);
            if (in[i + k] == '=' && i + 4 == n && k >= 2)
                pad++, v = 0;
            else if (v < 0 || pad > 0)
                goto out;
            word = word << 6 | (uint32_t)v;
        }
        if ((pad == 1 && (word & 0xff) != 0) || (pad == 2 && (word & 0xffff) != 0))
            goto out;
        out[o++] = (unsigned char)(word >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(word >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)word;
    }
    *outlen = o;
    rc = 0;
out:
    return rc;
}

/* Decode a key or iv: exactly 24 base64 characters that decode to 16 bytes. 0 or WXS_EPARSE. */
static int decode_block(const char *b64, size_t len, unsigned char out[BLOCK_BYTES])
{
    unsigned char tmp[BLOCK_B64_CHARS / 4 * 3];
    size_t n = 0;
    int rc = WXS_EPARSE;
    if (b64 == NULL || len != BLOCK_B64_CHARS || b64_decode(b64, len, tmp, &n) < 0 ||
        n != BLOCK_BYTES)
        goto out;
    memcpy(out, tmp, BLOCK_BYTES);
    rc = 0;
out:
    OPENSSL_cleanse(tmp, sizeof tmp);
    return rc;
}

/* Decode the ciphertext into *buf (wxs__malloc'd, *n bytes, a non-zero multiple of the block).
 * Returns 0, WXS_ETOOBIG (over DATA_MAX_BYTES decoded), WXS_EPARSE or WXS_ENOMEM. */
static int decode_data(const char *b64, size_t len, unsigned char **buf, size_t *n)
{
    int rc = WXS_ETOOBIG;
    unsigned char *p = NULL;
    *buf = NULL;
    if (len > DATA_MAX_CHARS)
        goto out;
    rc = WXS_EPARSE;
    if (b64 == NULL || len == 0)
        goto out;
    rc = WXS_ENOMEM;
    p = wxs__malloc(len / 4 * 3 + 1);
    if (p == NULL)
        goto out;
    rc = b64_decode(b64, len, p, n);
    if (rc == 0 && *n > DATA_MAX_BYTES)
        rc = WXS_ETOOBIG;
    else if (rc == 0 && *n % BLOCK_BYTES != 0)
        rc = WXS_EPARSE;
    if (rc < 0)
        goto out;
    *buf = p;
    p = NULL;
out:
    wxs__free(p);
    return rc;
}

/* ------------------------------------------------------------------ AES-128-CBC, PKCS#7 */

/* Decrypt n bytes (a non-zero multiple of the block) of in with key and iv into out (room for
 * n + 1 bytes) and strip the PKCS#7 padding (1 to 16 bytes, each equal to the count); sets
 * *outlen and NUL-terminates out. Returns 0, WXS_EDECRYPT (bad padding) or WXS_ENOMEM. */
static int aes_cbc_decrypt(const unsigned char key[BLOCK_BYTES],
                           const unsigned char iv[BLOCK_BYTES], const unsigned char *in, size_t n,
                           unsigned char *out, size_t *outlen)
{
    int rc = WXS_ENOMEM;
    int len1 = 0, len2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        goto out;
    rc = WXS_EDECRYPT;
    if (EVP_DecryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1 ||
        EVP_DecryptUpdate(c, out, &len1, in, (int)n) != 1 ||
        EVP_DecryptFinal_ex(c, out + len1, &len2) != 1 || (size_t)len1 + (size_t)len2 != n)
        goto out;
    unsigned pad = out[n - 1];
    unsigned bad = pad == 0 || pad > BLOCK_BYTES;
    for (size_t i = 0; i < BLOCK_BYTES; i++) /* the whole last block, whatever pad is */
        bad |= (i < pad) & (out[n - 1 - i] != pad);
    if (bad)
        goto out;
    *outlen = n - pad;
    out[*outlen] = '\0';
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c); /* wipes the key schedule */
    return rc;
}

/* ------------------------------------------------------------------ the plaintext */

/* The plaintext must be one JSON object (at most PLAIN_JSON_DEPTH deep, no NUL) and, when
 * app_id is not NULL, its watermark.appid must equal app_id. Returns 0, WXS_EDECRYPT (not such
 * an object: what a wrong key gives) or WXS_EWATERMARK. */
static int check_plaintext(const char *plain, size_t len, const char *app_id)
{
    int rc = WXS_EDECRYPT;
    json_t *doc = NULL;
    if (!wxs__json_depth_ok(plain, len, PLAIN_JSON_DEPTH))
        goto out;
    doc = json_loadb(plain, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc))
        goto out;
    rc = 0;
    if (app_id == NULL)
        goto out;
    json_t *appid = json_object_get(json_object_get(doc, "watermark"), "appid");
    rc = WXS_EWATERMARK;
    if (!json_is_string(appid) || json_string_length(appid) != strlen(app_id) ||
        memcmp(json_string_value(appid), app_id, strlen(app_id)) != 0)
        goto out;
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------ public */

int wxs_decrypt_data(const char *session_key_b64, size_t key_len, const char *iv_b64, size_t iv_len,
                     const char *data_b64, size_t data_len, const char *app_id, char **plain,
                     size_t *plain_len)
{
    unsigned char key[BLOCK_BYTES], iv[BLOCK_BYTES];
    unsigned char *data = NULL, *out = NULL;
    size_t n = 0, out_len = 0;
    int rc = WXS_EINVAL;
    if (plain == NULL)
        goto out;
    *plain = NULL;
    rc = decode_block(session_key_b64, key_len, key);
    if (rc == 0)
        rc = decode_block(iv_b64, iv_len, iv);
    if (rc == 0)
        rc = decode_data(data_b64, data_len, &data, &n);
    if (rc < 0)
        goto out;
    rc = WXS_ENOMEM;
    out = wxs__malloc(n + 1);
    if (out == NULL)
        goto out;
    rc = aes_cbc_decrypt(key, iv, data, n, out, &out_len);
    if (rc == 0)
        rc = check_plaintext((const char *)out, out_len, app_id);
    if (rc < 0)
        goto out;
    *plain = (char *)out;
    if (plain_len != NULL)
        *plain_len = out_len;
    out = NULL;
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    if (out != NULL)
        OPENSSL_cleanse(out, n + 1);
    wxs__free(out);
    wxs__free(data);
    return rc;
}

void wxs_free(void *p)
{
    wxs__free(p);
}
