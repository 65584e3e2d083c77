/* driver_decrypt.c: libFuzzer driver for wxs_decrypt_data (lib/decrypt.c), WeChat's
 * encryptedData. The input is split at its first two newlines into session_key, iv and data
 * (base64 texts, as a request carries them); the first byte picks the appId checked against the
 * watermark: odd the official vector's, even none (then any JSON object is accepted).
 *
 * Besides ASan/UBSan/LSan it checks: only the documented codes come back; *plain is NULL on
 * failure; on success the plaintext is NUL-terminated at its length, holds no NUL, parses as a
 * JSON object whose watermark.appid is the appId; a key or iv other than 24 characters and data
 * longer than the limit never succeed; a success is reproducible, and also succeeds with the
 * watermark unchecked. */
#include "fuzz.h"

#include <jansson.h>
#include <string.h>

#include "wxsession.h"

#define APP_ID "wx4f4bc4dec97d474b"
#define DATA_MAX_CHARS 87384 /* base64 of 64 KiB */

/* The next field of [*p, end): up to the next newline (consumed) or the end. */
static const char *field(const char **p, const char *end, size_t *len)
{
    const char *start = *p;
    const char *nl = memchr(start, '\n', (size_t)(end - start));
    *len = (size_t)((nl != NULL ? nl : end) - start);
    *p = nl != NULL ? nl + 1 : end;
    return start;
}

/* What a success must look like. */
static void check_plain(const char *plain, size_t len, const char *app_id)
{
    FUZZ_CHECK(plain != NULL && plain[len] == '\0' && strlen(plain) == len,
               "plaintext is not one C string of its length");
    json_t *doc = json_loadb(plain, len, 0, NULL);
    FUZZ_CHECK(json_is_object(doc), "plaintext is not a JSON object: %s", plain);
    if (app_id != NULL) {
        json_t *appid = json_object_get(json_object_get(doc, "watermark"), "appid");
        FUZZ_CHECK(json_is_string(appid) && strcmp(json_string_value(appid), app_id) == 0,
                   "watermark.appid is not %s: %s", app_id, plain);
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = size > 0 ? (const char *)data + 1 : "";
    const char *end = size > 0 ? (const char *)data + size : p;
    const char *app_id = size > 0 && (data[0] & 1) ? APP_ID : NULL;
    size_t key_len, iv_len, data_len, plain_len = 0, again_len = 0;
    const char *key = field(&p, end, &key_len);
    const char *iv = field(&p, end, &iv_len);
    const char *text = field(&p, end, &data_len);
    char *plain = (char *)"unset", *again = NULL;

    int rc = wxs_decrypt_data(key, key_len, iv, iv_len, text, data_len, app_id, &plain, &plain_len);
    FUZZ_CHECK(rc == 0 || rc == WXS_EPARSE || rc == WXS_EDECRYPT || rc == WXS_EWATERMARK ||
                   rc == WXS_ETOOBIG || rc == WXS_ENOMEM,
               "unexpected rc %d", rc);
    if (rc < 0) {
        FUZZ_CHECK(plain == NULL, "plain set on failure %d", rc);
        FUZZ_CHECK(rc != WXS_ETOOBIG || data_len > 65536 / 3 * 4, /* 87380: <= 65535 bytes */
                   "ETOOBIG for %zu characters", data_len);
        return 0;
    }
    FUZZ_CHECK(key_len == 24 && iv_len == 24 && data_len <= DATA_MAX_CHARS,
               "success with key %zu, iv %zu, data %zu characters", key_len, iv_len, data_len);
    check_plain(plain, plain_len, app_id);
    rc = wxs_decrypt_data(key, key_len, iv, iv_len, text, data_len, NULL, &again, &again_len);
    FUZZ_CHECK(rc == 0 && again_len == plain_len && memcmp(again, plain, plain_len) == 0,
               "not reproducible without the watermark check: rc %d", rc);
    wxs_free(again);
    wxs_free(plain);
    return 0;
}
