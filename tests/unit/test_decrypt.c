/* test_decrypt.c: wxs_decrypt_data (WeChat's encryptedData: the official vector, wrong key,
 * wrong appId, strict base64, lengths, size limit, tampering) and wxs_free (lib/decrypt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wxsession.h"

/* WeChat's official vector (docs of encryptedData; shared DESIGN.md section 5). */
static const char app_id[] = "wx4f4bc4dec97d474b";
static const char key[] = "tiihtNczf5v6AKRyjwEUhQ==";
static const char iv[] = "r7BXXKkLb8qrSNn05n0qiA==";
static const char data[] =
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPd"
    "bB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxV"
    "LW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1"
    "OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBv"
    "B4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVun"
    "YzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
static const char official_plain[] =
    "{\"openId\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\",\"nickName\":\"Band\",\"gender\":1,"
    "\"language\":\"zh_CN\",\"city\":\"Guangzhou\",\"province\":\"Guangdong\",\"country\":\"CN\","
    "\"avatarUrl\":\"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgM"
    "Em7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/"
    "0\",\"unionId\":\"ocMvos6NjeKLIBqg5Mr9QjxrP1FA\","
    "\"watermark\":{\"timestamp\":1477314187,\"appid\":\"wx4f4bc4dec97d474b\"}}";

/* wxs_decrypt_data on NUL-terminated arguments; on failure checks that *plain stays NULL. */
static int decrypt(const char *k, const char *v, const char *d, const char *app, char **plain,
                   size_t *len)
{
    int rc = wxs_decrypt_data(k, strlen(k), v, strlen(v), d, strlen(d), app, plain, len);
    if (rc < 0)
        assert_null(*plain);
    return rc;
}

/* base64 of n bytes (a malloc'd C string). */
static char *b64(const unsigned char *p, size_t n)
{
    char *out = malloc(n / 3 * 4 + 5);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* Encrypt plain (AES-128-CBC with PKCS#7) with the official key and iv: malloc'd base64. */
static char *encrypt(const char *plain, size_t n)
{
    unsigned char k[16], v[16];
    unsigned char *out = malloc(n + 32);
    int len1 = 0, len2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_DecodeBlock(k, (const unsigned char *)key, 24), 18);
    assert_int_equal(EVP_DecodeBlock(v, (const unsigned char *)iv, 24), 18);
    assert_non_null(out);
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, k, v), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &len1, (const unsigned char *)plain, (int)n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + len1, &len2), 1);
    EVP_CIPHER_CTX_free(c);
    char *text = b64(out, (size_t)(len1 + len2));
    free(out);
    return text;
}

static void official_vector(void **state)
{
    char *plain = NULL;
    size_t len = 0;
    assert_int_equal(decrypt(key, iv, data, app_id, &plain, &len), 0);
    assert_int_equal(len, strlen(official_plain));
    assert_string_equal(plain, official_plain);
    assert_non_null(strstr(plain, "\"openId\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\""));
    wxs_free(plain);
    wxs_free(NULL); /* a no-op */
    /* no appId: the watermark is not checked; plain_len may be NULL */
    plain = NULL;
    assert_int_equal(decrypt(key, iv, data, NULL, &plain, NULL), 0);
    assert_string_equal(plain, official_plain);
    wxs_free(plain);
}

static void wrong_app_id(void **state)
{
    static const char *const apps[] = {"wx0000000000000000", "wx4f4bc4dec97d474", "",
                                       "wx4f4bc4dec97d474bb", "WX4F4BC4DEC97D474B"};
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) {
        char *plain = NULL;
        assert_int_equal(decrypt(key, iv, data, apps[i], &plain, NULL), WXS_EWATERMARK);
    }
}

/* A plaintext that decrypts but is not what WeChat sends, or has no usable watermark. */
static void plaintext_rules(void **state)
{
    static const struct {
        const char *plain;
        int rc;
    } cases[] = {
        {"{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}", 0},
        {"{}", WXS_EWATERMARK},
        {"{\"watermark\":\"wx4f4bc4dec97d474b\"}", WXS_EWATERMARK},
        {"{\"watermark\":{\"appid\":1}}", WXS_EWATERMARK},
        {"{\"appid\":\"wx4f4bc4dec97d474b\"}", WXS_EWATERMARK},
        {"[{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}]", WXS_EDECRYPT},
        {"\"wx4f4bc4dec97d474b\"", WXS_EDECRYPT},
        {"{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}} x", WXS_EDECRYPT},
        {"{\"a\":1,\"a\":2,\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}", WXS_EDECRYPT},
        {"", WXS_EDECRYPT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *enc = encrypt(cases[i].plain, strlen(cases[i].plain));
        char *plain = NULL;
        int rc = decrypt(key, iv, enc, app_id, &plain, NULL);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].plain, rc, cases[i].rc);
        wxs_free(plain);
        free(enc);
    }
}

/* Nesting: 64 levels are accepted, 65 are not (refused before jansson parses them). */
static void plaintext_depth(void **state)
{
    for (int depth = 64; depth <= 65; depth++) {
        char text[512] = "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"},\"d\":";
        size_t n = strlen(text);
        for (int i = 0; i < depth - 1; i++)
            text[n++] = '[';
        for (int i = 0; i < depth - 1; i++)
            text[n++] = ']';
        text[n++] = '}';
        text[n] = '\0';
        char *enc = encrypt(text, n);
        char *plain = NULL;
        assert_int_equal(decrypt(key, iv, enc, app_id, &plain, NULL),
                         depth <= 64 ? 0 : WXS_EDECRYPT);
        wxs_free(plain);
        free(enc);
    }
}

static void wrong_key(void **state)
{
    static const char *const keys[] = {
        "AAAAAAAAAAAAAAAAAAAAAA==", "tiihtNczf5v6AKRyjwEUhA==", "HyVFkGl5F5OQWJZZaNzBBg=="};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *plain = NULL;
        assert_int_equal(decrypt(keys[i], iv, data, app_id, &plain, NULL), WXS_EDECRYPT);
    }
}

/* Each byte of the ciphertext's last two blocks changed in turn: never a success. A change in
 * the last block breaks the padding; in the one before, the padding may survive (CBC flips the
 * same bit of the last block) but not the JSON or the watermark. */
static void tampered(void **state)
{
    unsigned char raw[1024];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)data, (int)strlen(data)) - 2;
    assert_int_equal(n % 16, 0);
    for (int i = n - 32; i < n; i++) {
        raw[i] ^= 0x01;
        char *enc = b64(raw, (size_t)n);
        char *plain = NULL;
        int rc = decrypt(key, iv, enc, app_id, &plain, NULL);
        if (rc != WXS_EDECRYPT && rc != WXS_EWATERMARK)
            fail_msg("byte %d flipped: rc %d", i, rc);
        free(enc);
        raw[i] ^= 0x01;
    }
    /* the iv's first byte changed: so is the plaintext's ('{' becomes 'g') */
    char *plain = NULL;
    assert_int_equal(decrypt(key, "s7BXXKkLb8qrSNn05n0qiA==", data, app_id, &plain, NULL),
                     WXS_EDECRYPT);
    /* a whole block dropped from the end: the padding is gone */
    char *cut = b64(raw, (size_t)n - 16);
    assert_int_equal(decrypt(key, iv, cut, app_id, &plain, NULL), WXS_EDECRYPT);
    free(cut);
}

/* Base64 must be strict and key, iv and data the right lengths: WXS_EPARSE. */
static void bad_encoding(void **state)
{
    static const struct {
        const char *k, *v, *d, *why;
    } cases[] = {
        {"tiihtNczf5v6AKRyjwEUhQ=", iv, data, "key one character short"},
        {"tiihtNczf5v6AKRyjwEUhQ===", iv, data, "key one character long"},
        {"tiihtNczf5v6AKRyjwEUhQ", iv, data, "key without padding"},
        {"tiihtNczf5v6AKRyjwEUhR==", iv, data, "key with non-zero unused bits"},
        {"tiihtNczf5v6AKRyjwEU_Q==", iv, data, "key in base64url"},
        {"tiihtNczf5v6AKRyjwE UhQ=", iv, data, "key with a space"},
        {"tiihtNczf5v6AKRyjwEUhQQ=", iv, data, "key of 17 bytes"},
        {"tiihtNczf5v6AKRy=wEUhQ==", iv, data, "padding inside"},
        {"", iv, data, "empty key"},
        {key, "r7BXXKkLb8qrSNn05n0qiA", data, "iv without padding"},
        {key, "r7BXXKkLb8qrSNn05n0q", data, "iv of 15 bytes"},
        {key, "r7BXXKkLb8qrSNn05n0qiA=\n", data, "iv with a newline"},
        {key, "", data, "empty iv"},
        {key, iv, "", "empty data"},
        {key, iv, "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDc", "data of 33 bytes"},
        {key, iv, "CiyLU1Aw2KjvrjMdj8YK", "data of 15 bytes"},
        {key, iv, "CiyLU1Aw2KjvrjMdj8YKliAj\n", "data with a newline"},
        {key, iv, "CiyLU1Aw2KjvrjMdj8YKliA", "data not a multiple of 4"},
        {key, iv, "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnx*IXFufNstNGTyaGS", "a '*'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *plain = NULL;
        int rc = decrypt(cases[i].k, cases[i].v, cases[i].d, app_id, &plain, NULL);
        if (rc != WXS_EPARSE)
            fail_msg("%s: rc %d, want WXS_EPARSE", cases[i].why, rc);
    }
    char *plain = NULL;
    assert_int_equal(wxs_decrypt_data(NULL, 0, iv, 24, data, strlen(data), app_id, &plain, NULL),
                     WXS_EPARSE);
    assert_int_equal(wxs_decrypt_data(key, 24, iv, 24, data, strlen(data), app_id, NULL, NULL),
                     WXS_EINVAL);
}

/* 64 KiB of ciphertext decoded is the limit: at it, the bytes are decrypted (garbage here: not
 * JSON); one block past it, WXS_ETOOBIG before any work. */
static void size_limit(void **state)
{
    size_t max = 64 * 1024;
    unsigned char *raw = calloc(1, max + 16);
    assert_non_null(raw);
    for (size_t n = max; n <= max + 16; n += 16) {
        char *enc = b64(raw, n);
        char *plain = NULL;
        assert_int_equal(decrypt(key, iv, enc, app_id, &plain, NULL),
                         n <= max ? WXS_EDECRYPT : WXS_ETOOBIG);
        free(enc);
    }
    /* an overlong text is refused by its length, whatever it holds */
    char *big = malloc(200 * 1024 + 1);
    assert_non_null(big);
    memset(big, '*', 200 * 1024);
    big[200 * 1024] = '\0';
    char *plain = NULL;
    assert_int_equal(decrypt(key, iv, big, app_id, &plain, NULL), WXS_ETOOBIG);
    free(big);
    free(raw);
}

/* A large plaintext near the limit decrypts in full. */
static void large_plaintext(void **state)
{
    size_t n = 60 * 1024;
    char *text = malloc(n + 1);
    assert_non_null(text);
    int head = snprintf(text, n, "{\"watermark\":{\"appid\":\"%s\"},\"pad\":\"", app_id);
    memset(text + head, 'x', n - (size_t)head - 2);
    memcpy(text + n - 2, "\"}", 3);
    char *enc = encrypt(text, n);
    char *plain = NULL;
    size_t len = 0;
    assert_int_equal(decrypt(key, iv, enc, app_id, &plain, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(plain, text, n);
    wxs_free(plain);
    free(enc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(official_vector), cmocka_unit_test(wrong_app_id),
        cmocka_unit_test(plaintext_rules), cmocka_unit_test(plaintext_depth),
        cmocka_unit_test(wrong_key),       cmocka_unit_test(tampered),
        cmocka_unit_test(bad_encoding),    cmocka_unit_test(size_limit),
        cmocka_unit_test(large_plaintext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
