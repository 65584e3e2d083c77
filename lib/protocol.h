/* protocol.h: internal declarations of the pure protocol core (lib/protocol.c). */
#ifndef WXS_PROTOCOL_H
#define WXS_PROTOCOL_H

#include "internal.h"

#include <jansson.h>

/** 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int wxs__utf8_valid(const unsigned char *s, size_t n);

/** The length of the longest prefix of s[0..n) that is at most max bytes and well-formed UTF-8:
 *  it ends on a character boundary, before the first ill-formed sequence if there is one. */
size_t wxs__utf8_prefix(const unsigned char *s, size_t n, size_t max);

/** Parse decoded rawData: it must be a JSON object nesting at most max_depth deep. On success
 *  *out holds it (json_decref when done); WXS_EPARSE with a SyntaxError-style message in err. */
int wxs__user_parse(const char *raw, size_t raw_len, int max_depth, json_t **out, char *err,
                    size_t errlen);

/** Serialize a parsed rawData object with "openId" set as its last key: compact, key order kept,
 *  UTF-8 unescaped (as JSON.stringify writes it). *out is freed with wxs__free. */
int wxs__user_dump(json_t *obj, const char *openid, char **out, size_t *out_len);

/** 1 when rawData is "plain" (lib/protocol.c): a JSON object, no deeper than max_depth, whose
 *  record wxs__user_plain_record can write without a JSON library; 0 when it needs jansson
 *  (wxs__user_parse decides whether it is valid at all). */
int wxs__user_plain(const char *raw, size_t raw_len, int max_depth);

/** The record of plain rawData (byte for byte what wxs__user_parse + wxs__user_dump make): 1 with
 *  *out (free with wxs__free), 0 when openid needs escaping (use jansson), WXS_ENOMEM. */
int wxs__user_plain_record(const char *raw, size_t raw_len, const char *openid, char **out,
                           size_t *out_len);

/** The stored user record: rawData (decoded, must be a JSON object no deeper than max_depth)
 *  with "openId" set as its last key (when openid is not NULL), compact, key order kept.
 *  On success *out (free with wxs__free) and *out_len; WXS_EPARSE with a SyntaxError-style
 *  message in err; WXS_ENOMEM. */
int wxs__user_record(const char *raw, size_t raw_len, int max_depth, const char *openid, char **out,
                     size_t *out_len, char *err, size_t errlen);

/** Extract the top-level "openId" of a record made by wxs__user_record (its last key) into out
 *  (NUL-terminated). WXS_ENOTFOUND, WXS_EPARSE (escaped or longer than cap-1). */
int wxs__user_openid(const char *json, size_t len, char *out, size_t cap);

/** Append the magic-keyed error body:
 *  {"<magic>":1[,"reason":R],"error":{"name":N,"message":M[,"detail":D]}}
 *  reason may be NULL (malformed rawData); detail_json is raw JSON or NULL. */
int wxs__error_body(wxs__buf *b, const char *reason, const char *name, const char *message,
                    const char *detail_json);
int wxs__error_body_expired(wxs__buf *b);
int wxs__error_body_untrusted(wxs__buf *b);
/** detail = {"errcode":N,"errmsg":M} when errmsg is not NULL (WeChat's reply), else
 *  {"reason":reason} (no reply: timeout, transport, bad reply). M is errmsg cut to at most
 *  1024 bytes on a UTF-8 character boundary, and before any ill-formed sequence, so the body is
 *  always valid UTF-8. */
int wxs__error_body_exchange(wxs__buf *b, long errcode, const char *errmsg, const char *reason);

/** {"error":{"code":C,"message":M}}: the body of non-protocol errors (400, 431, 503). */
int wxs__error_json(wxs__buf *b, const char *code, const char *message);

#endif /* WXS_PROTOCOL_H */
