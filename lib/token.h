/* token.h: the token sessions' pure parts (lib/token_record.c): the token's syntax and making,
 * and the session record the store keeps under <prefix>token:<sha256hex of the token>. */
#ifndef WXS_TOKEN_H
#define WXS_TOKEN_H

#include "internal.h"

#define WXS__TOKEN_BYTES 32     /* random bytes in a token: 256 bits */
#define WXS__TOKEN_CHARS 43     /* their base64url, without padding */
#define WXS__TOKEN_MIN_CHARS 16 /* what a token as sent may be: base64url, 16..128 chars */
#define WXS__TOKEN_MAX_CHARS 128
#define WXS__TOKEN_ID_MAX 128 /* longest openId / unionId kept */
#define WXS__TOKEN_KEY_MAX 64 /* longest session_key kept (WeChat's: 24 base64 chars) */

/** 1 when token[0..len) may be a token: 16 to 128 base64url characters ([A-Za-z0-9_-]). */
int wxs__token_syntax_ok(const char *token, size_t len);

/** A new token: WXS__TOKEN_BYTES from the CSPRNG (OpenSSL RAND_bytes) as base64url without
 *  padding, NUL-terminated. 0, or WXS_EIO when the CSPRNG failed. */
int wxs__token_make(char out[WXS__TOKEN_CHARS + 1]);

/** A session record, decoded. Strings NUL-terminated; user borrows from the decoded value (or
 *  from user_owned, when the record needed a JSON parser), NULL when the record holds null. */
typedef struct wxs__token_record {
    char openid[WXS__TOKEN_ID_MAX + 1];
    char unionid[WXS__TOKEN_ID_MAX + 1];
    int has_unionid;
    char session_key[WXS__TOKEN_KEY_MAX + 1];
    long long created;    /* unix seconds: the login */
    long long last_seen;  /* unix seconds: the login or the last renewal */
    long long expires_at; /* unix seconds: the absolute end */
    const char *user;     /* the user info object (compact JSON), not NUL-terminated */
    size_t user_len;
    char *user_owned;
} wxs__token_record;

/** Write rec as the stored JSON object, keys in this order:
 *    {"openId":..,"unionId":..|null,"sessionKey":..,"created":N,"lastSeen":N,"expiresAt":N,
 *     "user":{..}|null}
 *  (user last, written as given: it must be a compact JSON object). *out is freed with
 *  wxs__free. 0 or WXS_ENOMEM. */
int wxs__token_record_encode(const wxs__token_record *rec, char **out, size_t *out_len);

/** Read a stored record back into *rec (rec->user borrows from val, or from rec->user_owned:
 *  release with wxs__token_record_clear). A record as encode writes it is read without a JSON
 *  parser; anything else goes through jansson. 0, WXS_EPARSE (not a session record, or a field
 *  too long) or WXS_ENOMEM. */
int wxs__token_record_decode(const char *val, size_t len, wxs__token_record *rec);

/** Free what decode allocated (user_owned); rec stays readable but for user. */
void wxs__token_record_clear(wxs__token_record *rec);

#endif /* WXS_TOKEN_H */
