/* driver_token.c: libFuzzer driver for the token protocol's parsers (src/server/token_parse.c).
 * Mode byte: even, the rest is an Authorization header's value for token_bearer_parse; odd, a
 * request body for token_body_parse and token_login_fields. */
#include "fuzz.h"

#include "token_parse.h"

#include <string.h>
#include <strings.h>

/* The reference: "Bearer", blanks, 16..128 base64url characters, blanks; nothing else. */
static int ref_bearer(const char *v, size_t n, size_t *start, size_t *len)
{
    size_t i = 6, s, e;
    if (n <= 6 || strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return -1;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    s = i;
    while (i < n && (memchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                            v[i], 64) != NULL &&
                     v[i] != '\0'))
        i++;
    e = i;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (i != n || e - s < TOKEN_CHARS_MIN || e - s > TOKEN_CHARS_MAX)
        return -1;
    *start = s;
    *len = e - s;
    return 1;
}

static void check_bearer(const char *v, size_t n)
{
    const char *tok = NULL;
    size_t len = 0, rs = 0, rl = 0;
    int rc = token_bearer_parse(v, n, &tok, &len);
    int want = ref_bearer(v, n, &rs, &rl);
    FUZZ_CHECK(rc == want, "parse %d, reference %d", rc, want);
    if (rc == 1)
        FUZZ_CHECK(tok == v + rs && len == rl, "token at %zu+%zu, reference %zu+%zu",
                   (size_t)(tok - v), len, rs, rl);
    FUZZ_CHECK(token_bearer_parse(NULL, 0, &tok, &len) == 0, "NULL is absent");
}

static void check_body(const char *text, size_t n)
{
    wxs_token_login_request lr;
    json_t *body = token_body_parse(text, n, 16);
    if (body == NULL)
        return;
    FUZZ_CHECK(json_is_object(body), "a body is an object");
    if (token_login_fields(body, &lr) == 0) {
        json_t *code = json_object_get(body, "code");
        FUZZ_CHECK(json_is_string(code) && lr.code_len > 0 &&
                       lr.code_len == json_string_length(code) &&
                       memcmp(lr.code, json_string_value(code), lr.code_len) == 0,
                   "code is the body's");
        FUZZ_CHECK(lr.raw_data == NULL || json_is_string(json_object_get(body, "rawData")),
                   "rawData only from a string");
    }
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        check_bearer((const char *)data + 1, size - 1);
    else
        check_body((const char *)data + 1, size - 1);
    return 0;
}
