/* token_parse.h: the token protocol's pure parsers (token_parse.c): the Authorization header and
 * the JSON bodies of POST /login, /logout and /decrypt. No I/O, for the routes and the fuzzer. */
#ifndef WXS_TOKEN_PARSE_H
#define WXS_TOKEN_PARSE_H

#include "wxsession.h"

#include <jansson.h>
#include <stddef.h>

#define TOKEN_CHARS_MIN 16
#define TOKEN_CHARS_MAX 128

/** An Authorization header's value: 1 with the token (borrowed from value) for "Bearer <token>"
 *  (scheme case-insensitive, the token 16 to 128 characters of base64url, blanks around it); 0
 *  when value is NULL; -1 for anything else. */
int token_bearer_parse(const char *value, size_t len, const char **token, size_t *token_len);

/** A request body: a JSON object nesting at most max_depth deep (an empty body is {}); NULL
 *  for anything else. The caller json_decref()s it. */
json_t *token_body_parse(const char *text, size_t len, int max_depth);

/** body's member name: 0 with *s, *n (borrowed from body) when it is a string, 0 with NULL, 0
 *  when absent or null; -1 when it is something else. */
int token_body_string(json_t *body, const char *name, const char **s, size_t *n);

/** POST /login's fields into out (borrowed from body): code (a non-empty string, required),
 *  rawData, signature, encryptedData, iv (optional strings). 0, or -1. */
int token_login_fields(json_t *body, wxs_token_login_request *out);

#endif /* WXS_TOKEN_PARSE_H */
