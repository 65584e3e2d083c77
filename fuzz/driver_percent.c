/* driver_percent.c: libFuzzer driver for the X-WX-RawData percent-decoder (differential against
 * a reference decoder written here) and for the signature check of the three protocol headers. */
#include "fuzz.h"

#include "protocol.h"

#include <openssl/evp.h>
#include <string.h>

#define RAW_DATA_CAP 8192 /* limits.rawDataBytes' default: what the server decodes into */

/* ---- the reference: written from the contract in wxsession.h, sharing no code with
 * lib/protocol.c */

static int ref_hex(unsigned char c)
{
    static const char digits[] = "0123456789abcdefABCDEF";
    const char *p = c != '\0' ? strchr(digits, c) : NULL;

    if (p == NULL)
        return -1;
    return p - digits < 16 ? (int)(p - digits) : (int)(p - digits) - 6;
}

/* Well-formed UTF-8 after Unicode's table 3-7: the allowed range of each byte of a sequence. */
static int ref_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char b = s[i];
        unsigned char lo = 0x80, hi = 0xBF;
        size_t len;

        if (b <= 0x7F) {
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF)
            len = 2;
        else if (b >= 0xE0 && b <= 0xEF)
            len = 3;
        else if (b >= 0xF0 && b <= 0xF4)
            len = 4;
        else
            return 0;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
        else if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
        if (i + len > n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        }
        i += len;
    }
    return 1;
}

/* Left to right: a bad escape is WXS_EPARSE, a byte past cap WXS_ETOOBIG, whichever comes
 * first; then the whole result must be UTF-8. */
static int ref_decode(const unsigned char *src, size_t n, unsigned char *dst, size_t cap,
                      size_t *out_len)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        if (c == '%') {
            int hi = i + 1 < n ? ref_hex(src[i + 1]) : -1;
            int lo = i + 2 < n ? ref_hex(src[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return WXS_EPARSE;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (out >= cap)
            return WXS_ETOOBIG;
        dst[out++] = c;
    }
    if (!ref_utf8(dst, out))
        return WXS_EPARSE;
    *out_len = out;
    return 0;
}

/* Decode src with the library and the reference into buffers of cap bytes; they must agree. */
static void check_decode(const char *src, size_t n, size_t cap)
{
    char *got = malloc(cap + 1);
    unsigned char *want = malloc(cap + 1);
    size_t got_len = (size_t)-1, want_len = (size_t)-1;
    int rc, ref;

    FUZZ_CHECK(got != NULL && want != NULL, "out of memory");
    rc = wxs_percent_decode(src, n, got, cap, &got_len);
    ref = ref_decode((const unsigned char *)src, n, want, cap, &want_len);
    FUZZ_CHECK(rc == ref, "decoder %d, reference %d (input %zu bytes, cap %zu)", rc, ref, n, cap);
    if (rc == 0) {
        FUZZ_CHECK(got_len == want_len, "lengths %zu and %zu", got_len, want_len);
        FUZZ_CHECK(got_len <= n && got_len <= cap, "decoded %zu of %zu", got_len, n);
        FUZZ_CHECK(memcmp(got, want, got_len) == 0, "decoded bytes differ");
        FUZZ_CHECK(wxs__utf8_valid((const unsigned char *)got, got_len) == 1, "not UTF-8");
    }
    FUZZ_CHECK(wxs__utf8_valid((const unsigned char *)src, n) == ref_utf8((const void *)src, n),
               "UTF-8 validators disagree on the raw input");
    free(got);
    free(want);
}

/* ---- the three headers: "code \n rawData \n signature" */

static void hex_of(const unsigned char *md, char out[41])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

/* The signature of rawData (decoded) under a session key derived from the code header. */
static void check_signature(const char *code, size_t code_len, const char *raw, size_t raw_len,
                            const char *sig, size_t sig_len)
{
    static const char official_key[] = "HyVFkGl5F5OQWJZZaNzBBg==";
    const char *key = code_len > 0 ? code : official_key;
    size_t key_len = code_len > 0 ? code_len : sizeof(official_key) - 1;
    char *decoded = malloc(raw_len + 1);
    size_t dlen = 0;
    char hex[41], ref[41];
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int verdict, expect;

    FUZZ_CHECK(decoded != NULL && sha != NULL, "out of memory");
    if (wxs_percent_decode(raw, raw_len, decoded, RAW_DATA_CAP < raw_len ? RAW_DATA_CAP : raw_len,
                           &dlen) < 0) {
        free(decoded); /* the server answers a malformed rawData before any signature check */
        EVP_MD_CTX_free(sha);
        return;
    }
    wxs_signature(decoded, dlen, key, key_len, hex);
    FUZZ_CHECK(EVP_DigestInit_ex(sha, EVP_sha1(), NULL) == 1 &&
                   EVP_DigestUpdate(sha, decoded, dlen) == 1 &&
                   EVP_DigestUpdate(sha, key, key_len) == 1 &&
                   EVP_DigestFinal_ex(sha, md, NULL) == 1,
               "OpenSSL's SHA-1 failed");
    EVP_MD_CTX_free(sha);
    hex_of(md, ref);
    FUZZ_CHECK(strcmp(hex, ref) == 0, "signature %s, reference %s", hex, ref);

    verdict = wxs_signature_verify(decoded, dlen, key, key_len, sig, sig_len);
    expect = sig_len == 40 && memcmp(sig, ref, 40) == 0;
    FUZZ_CHECK(verdict == expect, "verify says %d for a %s signature", verdict,
               expect ? "matching" : "wrong");
    FUZZ_CHECK(wxs_signature_verify(decoded, dlen, key, key_len, ref, 40) == 1,
               "the right signature is refused");
    ref[dlen % 40] = ref[dlen % 40] == '0' ? '1' : '0';
    FUZZ_CHECK(wxs_signature_verify(decoded, dlen, key, key_len, ref, 40) == 0,
               "a signature one digit off is accepted");
    free(decoded);
}

/* Split at the first two newlines: code, rawData, signature (missing parts are empty). */
static void check_headers(const char *p, size_t n)
{
    const char *nl1 = memchr(p, '\n', n);
    const char *raw = nl1 != NULL ? nl1 + 1 : p + n;
    const char *nl2 = memchr(raw, '\n', (size_t)(p + n - raw));
    const char *sig = nl2 != NULL ? nl2 + 1 : p + n;
    size_t code_len = (size_t)((nl1 != NULL ? nl1 : p + n) - p);
    size_t raw_len = (size_t)((nl2 != NULL ? nl2 : p + n) - raw);

    check_signature(p, code_len, raw, raw_len, sig, (size_t)(p + n - sig));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;

    check_decode(p, size, RAW_DATA_CAP);
    check_decode(p, size, size);                       /* always room: only EPARSE can fail */
    check_decode(p, size, size > 3 ? size / 3 : 0);    /* cut short: ETOOBIG vs EPARSE order */
    check_headers(p, size);
    return 0;
}
