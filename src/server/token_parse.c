/* token_parse.c: the token protocol's pure parsers (contract in token_parse.h). */
#include "token_parse.h"
#include "util.h"

#include <string.h>
#include <strings.h>

static int base64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int token_bearer_parse(const char *value, size_t len, const char **token, size_t *token_len)
{
    static const char scheme[] = "Bearer";
    size_t n = sizeof scheme - 1, i;
    if (value == NULL)
        return 0;
    if (len <= n || strncasecmp(value, scheme, n) != 0 || (value[n] != ' ' && value[n] != '\t'))
        return -1;
    for (i = n; i < len && (value[i] == ' ' || value[i] == '\t'); i++)
        ;
    size_t start = i;
    while (i < len && base64url_char((unsigned char)value[i]))
        i++;
    size_t end = i;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    if (i != len || end - start < TOKEN_CHARS_MIN || end - start > TOKEN_CHARS_MAX)
        return -1;
    *token = value + start;
    *token_len = end - start;
    return 1;
}

json_t *token_body_parse(const char *text, size_t len, int max_depth)
{
    json_error_t err;
    json_t *body = NULL;
    if (len == 0)
        return json_object();
    if (wxs__json_depth_ok(text, len, max_depth > 0 ? max_depth : 64))
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(body)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int token_body_string(json_t *body, const char *name, const char **s, size_t *n)
{
    json_t *v = json_object_get(body, name);
    *s = NULL;
    *n = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

int token_login_fields(json_t *body, wxs_token_login_request *out)
{
    memset(out, 0, sizeof *out);
    if (token_body_string(body, "code", &out->code, &out->code_len) < 0 || out->code_len == 0 ||
        token_body_string(body, "rawData", &out->raw_data, &out->raw_data_len) < 0 ||
        token_body_string(body, "signature", &out->signature, &out->signature_len) < 0 ||
        token_body_string(body, "encryptedData", &out->encrypted_data, &out->encrypted_data_len) <
            0 ||
        token_body_string(body, "iv", &out->iv, &out->iv_len) < 0)
        return -1;
    return 0;
}
