/* wxsession.h: the public interface of libwxsession, the login and session layer for
 * WeChat Mini Program backends (the weapp-session protocol).
 *
 * Conventions
 *  - Every public name starts with wxs_ (types, functions) or WXS_ (constants).
 *  - Functions that can fail return 0 (or a count) on success and a negative WXS_E* code on
 *    failure; wxs_strerror() turns a code into text.
 *  - Handles are opaque and come in pairs: wxs_x_new() / wxs_x_free(); every _free(NULL) is a
 *    no-op.
 *  - One callback rule, libuv's: a callback never runs before the call that started it has
 *    returned. A function that takes a callback and returns an error (found at once) never
 *    calls that callback; one that returns 0 calls it exactly once, on the loop thread, on a
 *    later pass of the loop, even when the answer was known at once (an anonymous request, a
 *    malformed header, an SQLite read, a store that is down).
 *  - The library never aborts or exits. All its memory comes from the allocator set with
 *    wxs_replace_allocator().
 */
#ifndef WXSESSION_H
#define WXSESSION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WXS_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* X(name, value, message): the one table of library error codes. */
#define WXS_ERRNO_MAP(X)                                                                           \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(TOOBIG, -3, "value exceeds its limit")                                                       \
    X(PARSE, -4, "malformed input")                                                                \
    X(STORE, -5, "store unavailable")                                                              \
    X(TIMEDOUT, -6, "operation timed out")                                                         \
    X(EXCHANGE, -7, "code exchange rejected by WeChat")                                            \
    X(SIGNATURE, -8, "signature mismatch")                                                         \
    X(NOTFOUND, -9, "not found")                                                                   \
    X(CONFIG, -10, "invalid configuration")                                                        \
    X(IO, -11, "input/output error")                                                               \
    X(CANCELED, -12, "operation canceled")                                                         \
    X(UPSTREAM, -13, "bad reply from upstream")                                                    \
    X(TOKEN, -14, "token not recognised")                                                          \
    X(EXPIRED, -15, "session expired")                                                             \
    X(DECRYPT, -16, "decryption failed")                                                           \
    X(WATERMARK, -17, "data not for this app (watermark)")                                         \
    X(STALE, -18, "session key no longer valid at WeChat")

typedef enum {
    WXS_OK = 0,
#define WXS__ERR_ENUM(name, value, msg) WXS_E##name = (value),
    WXS_ERRNO_MAP(WXS__ERR_ENUM)
#undef WXS__ERR_ENUM
} wxs_errno;

/** Text for an error code; never NULL ("unknown error" for codes not in the table). */
const char *wxs_strerror(int err);
/** Symbolic name of an error code ("WXS_ESTORE"); never NULL. */
const char *wxs_err_name(int err);

/* ------------------------------------------------------------- allocator */

typedef void *(*wxs_malloc_fn)(size_t size);
typedef void *(*wxs_realloc_fn)(void *ptr, size_t size);
typedef void *(*wxs_calloc_fn)(size_t count, size_t size);
typedef void (*wxs_free_fn)(void *ptr);

/** Replace the allocator the library uses for its own memory and libcurl's. Call before any
 *  other wxs_ function. The other libraries keep their own allocators (jansson's is
 *  json_set_alloc_funcs(); hiredis 0.14 has no hook; SQLite and libmongoc have their own).
 *  Returns WXS_EINVAL if any function is NULL. */
int wxs_replace_allocator(wxs_malloc_fn m, wxs_realloc_fn r, wxs_calloc_fn c, wxs_free_fn f);

/* --------------------------------------------------------------- logging */

typedef enum { WXS_LOG_DEBUG = 0, WXS_LOG_INFO, WXS_LOG_WARN, WXS_LOG_ERROR } wxs_log_level;

/** Log sink: receives one formatted line without a trailing newline. Must be thread-safe. */
typedef void (*wxs_log_fn)(void *arg, wxs_log_level level, const char *line);

/** Set where the library logs (default: stderr, level INFO, text format).
 *  fn NULL restores the default sink. json != 0 formats lines as JSON objects. */
void wxs_set_log(wxs_log_fn fn, void *arg, wxs_log_level min_level, int json);

/** Change only the level and format, safely while other threads log (a reload). */
void wxs_set_log_level(wxs_log_level min_level, int json);

/** Write one line through the library's sink, in its format and subject to its level: a
 *  program's own lines then look like the library's (one stream, one format). printf-style; the
 *  message is cut at 1023 bytes. Never pass a secret. */
void wxs_log(wxs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** One field of a structured line: value is a string, or a number written as is when number
 *  != 0 (then it must be digits, '-' and '.' only). */
typedef struct wxs_log_field {
    const char *key;
    const char *value;
    int number;
} wxs_log_field;

/** Write one structured line (an access or audit record) through the sink: in JSON, the event
 *  as "msg" and each field as a member ({"time":..,"level":..,"msg":"login","result":"ok",..});
 *  in text, "event key=value ..." with values holding a space, '"' or '=' quoted (JSON-escaped).
 *  A field whose key is NULL is left out. Subject to the level; a line over 2047 bytes is
 *  replaced by a "log line too long" error line. Never pass a secret. */
void wxs_log_event(wxs_log_level level, const char *event, const wxs_log_field *fields, size_t n);

/* ---------------------------------------------------------------- config */

/* The configuration: tables of options (name, type, default, bounds, env var, flag, help) drive
 * the JSON config file, environment overrides, command-line flags, --help and docs/config.md.
 * The library registers its own table (appId, appSecret, the session store, the WeChat client);
 * a program registers its own tables (its port, its app's options) with wxs_config_register()
 * and reads its own typed fields. Option names are the config file's keys, dotted for nested
 * objects ("redis.port"). */
typedef struct wxs_config wxs_config;

typedef enum {
    WXS_OPT_INT,    /* long long, within [min, max] */
    WXS_OPT_BOOL,   /* long long, 0 or 1 (true/false, 1/0, yes/no, on/off as text) */
    WXS_OPT_STRING, /* char *, never NULL; `check` may refuse a value */
    WXS_OPT_ENUM,   /* char *, one of `choices` */
    WXS_OPT_SECRET, /* char *: shown as "***", also read from <env>_FILE, wiped when freed */
} wxs_option_type;

/** A string option's format check: 0, or -1 with a reason in why (never quoting the value). */
typedef int (*wxs_option_check_fn)(const char *value, char *why, size_t whylen);

/** One option. Build it with the WXS_OPTION_* macros below, which check the field's type. */
typedef struct wxs_option {
    const char *name; /* config file key, dotted for nested objects */
    const char *flag; /* command-line flag without the leading "--" */
    const char *env;  /* environment variable; secrets also read <env>_FILE */
    wxs_option_type type;
    size_t offset;     /* of the field in the owner's struct: long long or char * */
    long long def_int; /* int and bool */
    long long min, max;
    const char *def_str;        /* string, enum and secret ("" for secrets) */
    const char *const *choices; /* enum: NULL-terminated */
    wxs_option_check_fn check;  /* string: optional */
    const char *help;           /* one line */
    const char *alias;          /* an older config key for the same field, or NULL */
} wxs_option;

/** A table of options that fill one struct of its owner's. */
typedef struct wxs_option_table {
    const char *title; /* its heading in --help and docs/config.md */
    const wxs_option *options;
    size_t count;
    /** Optional cross-option rules, run by wxs_config_validate() after every option's own
     *  checks: 0, or WXS_ECONFIG with a one-line reason naming the option. fields is the struct
     *  given to wxs_config_register(); cfg answers for the other tables' options. */
    int (*validate)(const void *fields, const wxs_config *cfg, char *err, size_t errlen);
} wxs_option_table;

/* clang-format off */
#define WXS__FIELD(type, field, ctype)                                                            \
    (offsetof(type, field) + 0 * sizeof(_Generic(((type *)0)->field, ctype: 1)))
#define WXS_OPTION_INT(type, field, name, flag, env, def, lo, hi, help)                           \
    {name, flag, env, WXS_OPT_INT, WXS__FIELD(type, field, long long), def, lo, hi, NULL, NULL,  \
     NULL, help, NULL}
#define WXS_OPTION_BOOL(type, field, name, flag, env, def, help)                                  \
    {name, flag, env, WXS_OPT_BOOL, WXS__FIELD(type, field, long long), def, 0, 1, NULL, NULL,   \
     NULL, help, NULL}
#define WXS_OPTION_STRING(type, field, name, flag, env, def, check, help)                         \
    {name, flag, env, WXS_OPT_STRING, WXS__FIELD(type, field, char *), 0, 0, 0, def, NULL,       \
     check, help, NULL}
#define WXS_OPTION_SECRET(type, field, name, flag, env, help)                                     \
    {name, flag, env, WXS_OPT_SECRET, WXS__FIELD(type, field, char *), 0, 0, 0, "", NULL, NULL,  \
     help, NULL}
#define WXS_OPTION_ENUM(type, field, name, flag, env, def, choices, help)                         \
    {name, flag, env, WXS_OPT_ENUM, WXS__FIELD(type, field, char *), 0, 0, 0, def, choices,      \
     NULL, help, NULL}
/* clang-format on */

/** A config holding the library's options at their defaults. NULL when out of memory. */
wxs_config *wxs_config_new(void);
/** Free cfg and every string it set in registered tables' fields (set to NULL). NULL: no-op. */
void wxs_config_free(wxs_config *cfg);

/** Register table, whose options fill fields (the owner's struct, borrowed: it must outlive
 *  cfg). Every field is set to its default at once. Returns 0; WXS_EINVAL when an option's name,
 *  alias, flag or env var is already registered or more than 8 tables are; WXS_ENOMEM. */
int wxs_config_register(wxs_config *cfg, const wxs_option_table *table, void *fields);

/** Merge a JSON config file, all or nothing. A line whose first characters other than spaces
 *  and tabs are "//" or "#" is a comment (whole lines only). On error returns WXS_ECONFIG (or
 *  WXS_EIO, WXS_ENOMEM) and writes a one-line reason naming the option into err. */
int wxs_config_load_file(wxs_config *cfg, const char *path, char *err, size_t errlen);

/** Apply environment overrides (WXS_<OPTION>, and WXS_<OPTION>_FILE for secrets), all or
 *  nothing. */
int wxs_config_load_env(wxs_config *cfg, char *err, size_t errlen);

/** Set one option from text, as a flag or env var would. name is the option's name
 *  ("redis.port"), its alias, or its flag without dashes ("redis-port"). */
int wxs_config_set(wxs_config *cfg, const char *name, const char *value, char *err, size_t errlen);

/** 1 when name is a registered option's name, alias or flag (without dashes), else 0. */
int wxs_config_has(const wxs_config *cfg, const char *name);

/** The flag (without dashes) of the registered option nearest to a misspelt name, when one is
 *  near enough to be a likely typo; else NULL. Borrowed from the option table. */
const char *wxs_config_suggest(const wxs_config *cfg, const char *name);

/** Count the WXS_* environment variables that no registered option reads (a typo, or an option
 *  of another version) and list them into out ("WXS_PROT (did you mean WXS_PORT?), ...",
 *  cut to outlen). A program warns about them; they are otherwise ignored. */
size_t wxs_config_unknown_env(const wxs_config *cfg, char *out, size_t outlen);

/** Check every option against its rules and run each table's validate. */
int wxs_config_validate(const wxs_config *cfg, char *err, size_t errlen);

/** Typed getters by option name, for an option another table owns (a program reads its own
 *  fields directly). Unknown names or a wrong type return NULL / 0. Strings are borrowed: valid
 *  until the option is set again or cfg is freed. */
const char *wxs_config_get_str(const wxs_config *cfg, const char *name);
long long wxs_config_get_int(const wxs_config *cfg, const char *name);

/** Write the effective configuration as JSON with secrets shown as "***" when set. */
int wxs_config_dump(const wxs_config *cfg, FILE *out);

/** Write every registered option as --help text / as the Markdown of docs/config.md (whose
 *  example config file shows cfg's values: call it on a config fresh from its defaults). */
void wxs_config_print_help(const wxs_config *cfg, FILE *out);
void wxs_config_print_markdown(const wxs_config *cfg, FILE *out);

/** Write every registered option as roff for a man page's options section: a .SS per table, a
 *  .TP per option with its flag, help, default, range, config key and environment variable. */
void wxs_config_print_man(const wxs_config *cfg, FILE *out);

/** Write a commented sample config file: one JSON object per group, every option preceded by
 *  comment lines with its help, default and environment variable. The keys named in active (a
 *  NULL-terminated list of option names; NULL for none) are written as JSON with cfg's values
 *  (secrets always as ""), every other option as a commented line with its default. Within an
 *  object the commented lines come first, each with its comma, and the object ends with an
 *  active key: a group with no key in active ends with its last option, active at cfg's value.
 *  So removing the comment mark of any one line leaves valid JSON. Returns 0, WXS_EINVAL or
 *  WXS_ENOMEM. */
int wxs_config_print_sample(const wxs_config *cfg, const char *const *active, FILE *out);

/* -------------------------------------------------------- protocol (pure) */

/* Wire reasons of the weapp-session protocol. */
#define WXS_REASON_SESSION_EXPIRED "ERR_SESSION_EXPIRED"
#define WXS_REASON_EXCHANGE_FAILED "ERR_SESSION_KEY_EXCHANGE_FAILED"
#define WXS_REASON_UNTRUSTED_RAW_DATA "ERR_UNTRUSTED_RAW_DATA"
/* Codes of the library's {"error":{"code":...}} bodies (wxs_auth_result.body with an HTTP status
 * other than 200). Programs on the library use these names too for the same conditions. */
#define WXS_REASON_STORE_UNAVAILABLE "ERR_STORE_UNAVAILABLE"   /* 503 */
#define WXS_REASON_SHUTTING_DOWN "ERR_SHUTTING_DOWN"           /* 503 */
#define WXS_REASON_INTERNAL "ERR_INTERNAL"                     /* 500: out of memory */
#define WXS_REASON_CODE_TOO_LONG "ERR_CODE_TOO_LONG"           /* 400: limits.codeBytes */
#define WXS_REASON_RAW_DATA_TOO_LARGE "ERR_RAW_DATA_TOO_LARGE" /* 431: limits.rawDataBytes */
#define WXS_REASON_BAD_OPENID "ERR_BAD_OPENID"                 /* 502: WeChat's openid too long */
#define WXS_MAGIC_KEY "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"

/** Strictly percent-decode src (as decodeURIComponent would): every '%' must start a %XX
 *  escape; '+' stays '+'; the result must be valid UTF-8. Writes at most dstcap bytes to dst and
 *  sets *dstlen. Returns 0, WXS_EPARSE (bad escape or invalid UTF-8) or WXS_ETOOBIG. dst may
 *  not overlap src. */
int wxs_percent_decode(const char *src, size_t srclen, char *dst, size_t dstcap, size_t *dstlen);

/** hex must have room for 41 bytes: lowercase hex sha1(raw_data + session_key), NUL-terminated. */
void wxs_signature(const char *raw_data, size_t raw_len, const char *session_key, size_t key_len,
                   char hex[41]);

/** 1 when signature (any case of hex digits is rejected but lowercase) equals
 *  sha1(raw_data + session_key), in time independent of where they differ; else 0. */
int wxs_signature_verify(const char *raw_data, size_t raw_len, const char *session_key,
                         size_t key_len, const char *signature, size_t sig_len);

/* ---------------------------------------------------------------- session */

/* A session context serves one libuv loop (one per worker thread): it owns that loop's store
 * connection and WeChat client. Contexts on different loops may share a config. */
typedef struct wxs_ctx wxs_ctx;

/** Create a context on loop, opening the configured session store and the WeChat client.
 *  cfg is borrowed and must outlive the context. Returns 0 or a negative code with a reason in
 *  err: WXS_ECONFIG when appId or appSecret is empty (WeChat, and the simulator, need both) or
 *  the store cannot be opened. */
int wxs_ctx_new(wxs_ctx **out, uv_loop_t *loop, const wxs_config *cfg, char *err, size_t errlen);

/** Start closing: in-flight operations end with their callbacks (status WXS_ECANCELED where
 *  they cannot finish); handles close on the loop, so run the loop until it has no active
 *  handles before uv_loop_close(). NULL is a no-op. */
void wxs_ctx_free(wxs_ctx *ctx);

/** What the session layer decided for a request. */
typedef enum {
    WXS_AUTH_ANONYMOUS = 0, /* no X-WX-Code: go on with user = null */
    WXS_AUTH_USER,          /* user_json holds the user info object (with openId) */
    WXS_AUTH_REJECT,        /* answer HTTP `http_status` with `body` (the protocol's error body) */
} wxs_auth_kind;

typedef struct wxs_auth_result {
    wxs_auth_kind kind;
    int status;            /* 0, or the WXS_E* code behind a rejection */
    int http_status;       /* with WXS_AUTH_REJECT: 200 for protocol errors, 400, 503 */
    const char *user_json; /* with WXS_AUTH_USER: compact JSON object, NUL-terminated */
    size_t user_len;
    const char *openid; /* with WXS_AUTH_USER: NUL-terminated */
    const char *body;   /* with WXS_AUTH_REJECT: JSON body, NUL-terminated */
    size_t body_len;
    int login;  /* 1: the request was a login (a code with rawData), 0: anonymous or code-only */
    int result; /* a login's wxs_login_result, a code-only request's wxs_lookup_result (the
                 * "statistics" section below); 0 for an anonymous one */
} wxs_auth_result;

/** The three header values of a request; NULL (or len 0) when the header is absent. Borrowed
 *  for the duration of the wxs_ctx_authenticate() call only: the library copies what it keeps. */
typedef struct wxs_auth_request {
    const char *code;
    size_t code_len;
    const char *raw_data; /* still percent-encoded, as sent */
    size_t raw_data_len;
    const char *signature;
    size_t signature_len;
} wxs_auth_request;

/** Pointers in res are valid only during the callback. */
typedef void (*wxs_auth_cb)(void *arg, const wxs_auth_result *res);

/** Decide who sends a request (the weapp-session protocol, DESIGN.md section 2): anonymous,
 *  login (exchange the code, check the signature, store the session) or code-only (look the
 *  session up). Returns 0 and calls cb exactly once, never before returning (every answer,
 *  rejections included, comes through the loop); or returns WXS_EINVAL, WXS_ENOMEM or
 *  WXS_ECANCELED (the context is being freed) and never calls cb. */
int wxs_ctx_authenticate(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg);

/** 1 when the context's session store can serve reads and writes (for a readiness probe), else
 *  0. Redis: the connection is up and its AUTH / SELECT succeeded; a lost connection makes it 0
 *  at once, until the store has reconnected by itself. SQLite: 0 while the file's writer is
 *  failing: from a write that met a full disk, an I/O error or a read-only file until a write
 *  reaches the file again (an idle failing writer tries a one-page write every second). 0 once
 *  wxs_ctx_free was called (while the context is still in memory: until the loop has run the
 *  close). Cheap (no I/O, no lock); call it on the context's loop thread. */
int wxs_ctx_store_ready(const wxs_ctx *ctx);

/* --------------------------------------------------------- token sessions */

/* The token protocol (docs/protocol.md): POST {routeBasePath}/login exchanges a code for an
 * opaque token (>= 256 random bits, base64url); later requests carry "Authorization: Bearer
 * <token>". The store keeps only the token's SHA-256 (wxs_token_hash) with the user's openId,
 * unionId, session_key (never leaves the server), times and optional user info. A session ends
 * after session.tokenIdleSeconds without use or session.tokenMaxSeconds after the login,
 * whichever comes first; at most session.tokensPerUser live at once (the oldest ends first). */

/** A token login. code is required; raw_data (plain JSON, not percent-encoded) with signature
 *  are checked as the weapp-session login checks them; encrypted_data with iv (base64) are
 *  decrypted with the new session_key and returned. Lengths 0: absent. Borrowed for the call. */
typedef struct wxs_token_login_request {
    const char *code;
    size_t code_len;
    const char *raw_data;
    size_t raw_data_len;
    const char *signature;
    size_t signature_len;
    const char *encrypted_data;
    size_t encrypted_data_len;
    const char *iv;
    size_t iv_len;
} wxs_token_login_request;

/** What a token operation found. Strings are NUL-terminated and valid during the callback.
 *  status: 0; WXS_ETOKEN (no such token: unknown, tampered, logged out), WXS_EEXPIRED (idle or
 *  absolute lifetime passed), WXS_EEXCHANGE (WeChat refused the code: errcode, errmsg),
 *  WXS_ESIGNATURE, WXS_EDECRYPT (the data does not decrypt with the session_key: at login, the
 *  data predates the code; at decrypt, WeChat says the key is current, so the data is bad),
 *  WXS_ESTALE (decrypt: WeChat no longer holds the session's key, or could not be asked),
 *  WXS_EWATERMARK (watermark.appid is not our appId), WXS_EPARSE / WXS_ETOOBIG (bad
 *  input), WXS_ETIMEDOUT / WXS_EUPSTREAM / WXS_EIO (WeChat unreachable), WXS_ESTORE,
 *  WXS_ECANCELED, WXS_ENOMEM. */
typedef struct wxs_token_result {
    int status;
    const char *token;     /* login: the new token (handed to its owner only) */
    const char *openid;    /* login, lookup, decrypt */
    const char *unionid;   /* NULL when WeChat gave none */
    long long expires_in;  /* seconds until the session ends if unused (login, lookup) */
    long long expires_at;  /* unix seconds: the absolute end (lookup) */
    const char *user_json; /* the user info object stored with the session, or NULL */
    size_t user_len;
    const char *plain_json; /* login with encrypted_data, decrypt: the plaintext object */
    size_t plain_len;
    long errcode; /* WXS_EEXCHANGE */
    const char *errmsg;
} wxs_token_result;

typedef void (*wxs_token_cb)(void *arg, const wxs_token_result *res);

/** Log in with a code (the single-flight exchange: concurrent or retried logins with one code
 *  make one WeChat call) and create a session. Callback rule as wxs_ctx_authenticate. */
int wxs_ctx_token_login(wxs_ctx *ctx, const wxs_token_login_request *req, wxs_token_cb cb,
                        void *arg);
/** The session of a token (as sent, base64url): openid, unionid, expiry, user info; renews the
 *  idle expiry at most once per eighth of the idle time, so most lookups are one read. */
int wxs_ctx_token_lookup(wxs_ctx *ctx, const char *token, size_t len, wxs_token_cb cb, void *arg);
/** End the token's session, or with all != 0 every session of its user. */
int wxs_ctx_token_logout(wxs_ctx *ctx, const char *token, size_t len, int all, wxs_token_cb cb,
                         void *arg);
/** Decrypt data (base64) with iv (base64) and the token's session_key; the plaintext must be a
 *  JSON object whose watermark.appid is our appId. */
int wxs_ctx_token_decrypt(wxs_ctx *ctx, const char *token, size_t len, const char *data,
                          size_t data_len, const char *iv, size_t iv_len, wxs_token_cb cb,
                          void *arg);

/** The hex SHA-256 of a token, as the store keeps it (hex: 65 bytes). */
void wxs_token_hash(const char *token, size_t len, char hex[65]);

/** WeChat's encryptedData: AES-128-CBC with PKCS#7 padding, key = base64-decoded session_key
 *  (16 bytes), iv = base64-decoded iv (16 bytes). On 0, *plain (NUL-terminated, free with the
 *  library's allocator: wxs_free) holds the plaintext, a JSON object whose watermark.appid
 *  equals app_id (app_id NULL: not checked). Returns WXS_EPARSE (bad base64, wrong key or iv
 *  length), WXS_EDECRYPT (padding wrong, or the plaintext is not a JSON object: the key is not
 *  the one the data was encrypted with), WXS_EWATERMARK, WXS_ETOOBIG (data over 64 KiB),
 *  WXS_ENOMEM, WXS_EINVAL (a NULL argument). Pure. */
int wxs_decrypt_data(const char *session_key_b64, size_t key_len, const char *iv_b64, size_t iv_len,
                     const char *data_b64, size_t data_len, const char *app_id, char **plain,
                     size_t *plain_len);
/** Free what the library allocated for the caller (wxs_decrypt_data's plaintext). */
void wxs_free(void *p);

/* ------------------------------------------------------- WeChat server APIs */

/* The app's access_token (docs/operations.md "access_token"): one per appId for every worker,
 * instance and service. It lives in the session store (key "access_token:<appId>") and is
 * fetched with cgi-bin/stable_token in normal mode (never force_refresh) by one holder at a
 * time, under a lease in the store ("access_token_lease:<appId>", accessToken.leaseSeconds) so
 * that a holder that dies is replaced. It is renewed accessToken.refreshAheadSeconds before it
 * expires (WeChat's stable_token hands out a new token in its last 5 minutes); the other
 * holders go on with the old one meanwhile. Each context keeps a copy until then, so most
 * calls make no I/O. */

/** status 0: token (NUL-terminated, valid during the callback) and expires_at (unix seconds).
 *  Else WXS_EEXCHANGE (WeChat refused the fetch: errcode and errmsg are logged, e.g. 40013,
 *  40125), WXS_ETIMEDOUT / WXS_EUPSTREAM / WXS_EIO, WXS_ESTORE, WXS_ECANCELED, WXS_ENOMEM. */
typedef void (*wxs_access_token_cb)(void *arg, int status, const char *token, long long expires_at);

/** The app's access_token. Callback rule as wxs_ctx_authenticate. */
int wxs_ctx_access_token(wxs_ctx *ctx, wxs_access_token_cb cb, void *arg);
/** Passive refresh: a caller saw 40001/42001 with token. The stored token is dropped only if it
 *  is still that one (compare, then delete), and the current token is answered (a new one
 *  fetched when it had to be dropped). */
int wxs_ctx_access_token_invalid(wxs_ctx *ctx, const char *token, size_t len,
                                 wxs_access_token_cb cb, void *arg);

/** The answer of a WeChat API called with the access_token. Strings are NUL-terminated and
 *  valid during the callback. status: 0; WXS_EEXCHANGE (WeChat answered errcode, errmsg),
 *  WXS_ESTALE (check/reset: WeChat no longer holds this session_key, errcode 87009), the
 *  access_token's failures (above), WXS_EINVAL / WXS_ETOOBIG (bad argument). A call that met
 *  40001 or 42001 was retried once with a fresh token first. */
typedef struct wxs_api_result {
    int status;
    long errcode;
    const char *errmsg;
    const char *json; /* phone number: the phone_info object (compact JSON) */
    size_t json_len;
    const char *session_key; /* reset: the user's new session_key */
} wxs_api_result;

typedef void (*wxs_api_cb)(void *arg, const wxs_api_result *res);

/** The longest phone code accepted (the getPhoneNumber button's; WXS_ETOOBIG past it). */
#define WXS_PHONE_CODE_MAX 1024

/** A phone number: POST wxa/business/getuserphonenumber {code, openid} (code from the
 *  getPhoneNumber button; openid makes WeChat check the code is this user's). Billed per call:
 *  never retried but for 40001/42001. */
int wxs_ctx_phone_number(wxs_ctx *ctx, const char *openid, const char *code, size_t code_len,
                         wxs_api_cb cb, void *arg);
/** Is session_key still the one WeChat holds for openid? (wxa/checksession): 0 or
 *  WXS_ESTALE. */
int wxs_ctx_check_session_key(wxs_ctx *ctx, const char *openid, const char *session_key,
                              wxs_api_cb cb, void *arg);
/** Give the user a new session_key (wxa/resetusersessionkey, signed with the current one): the
 *  new key in res->session_key. */
int wxs_ctx_reset_session_key(wxs_ctx *ctx, const char *openid, const char *session_key,
                              wxs_api_cb cb, void *arg);
/** The user login state signature: hex of hmac_sha256(key = session_key as sent by WeChat,
 *  message = body; "" for a GET). hex: 65 bytes. Pure. */
void wxs_session_key_signature(const char *session_key, size_t key_len, const char *body,
                               size_t body_len, char hex[65]);

/* ------------------------------------------------------------- statistics */

/* Counters of a context's work, for metrics: monotonic, never reset. Only the context's loop
 * thread writes them, with relaxed atomic stores (no lock, no read-modify-write); any thread may
 * read them with wxs_ctx_stats_add(). No code, openid, token or secret is ever part of them. */

/** How a login (a code with rawData) ended. */
typedef enum {
    WXS_LOGIN_OK = 0,
    WXS_LOGIN_EXCHANGE_FAILED,    /* ERR_SESSION_KEY_EXCHANGE_FAILED */
    WXS_LOGIN_UNTRUSTED_RAW_DATA, /* ERR_UNTRUSTED_RAW_DATA */
    WXS_LOGIN_MALFORMED_RAW_DATA, /* URIError / SyntaxError */
    WXS_LOGIN_CODE_TOO_LONG,      /* ERR_CODE_TOO_LONG */
    WXS_LOGIN_RAW_DATA_TOO_LARGE, /* ERR_RAW_DATA_TOO_LARGE */
    WXS_LOGIN_BAD_OPENID,         /* ERR_BAD_OPENID */
    WXS_LOGIN_STORE_UNAVAILABLE,  /* ERR_STORE_UNAVAILABLE */
    WXS_LOGIN_INTERNAL,           /* ERR_INTERNAL */
    WXS_LOGIN_SHUTTING_DOWN,      /* ERR_SHUTTING_DOWN */
    WXS_LOGIN_RESULTS
} wxs_login_result;

/** How a code-only request (a session look-up) ended. */
typedef enum {
    WXS_LOOKUP_OK = 0,
    WXS_LOOKUP_SESSION_EXPIRED,   /* ERR_SESSION_EXPIRED: no session for the code */
    WXS_LOOKUP_STORE_UNAVAILABLE, /* ERR_STORE_UNAVAILABLE */
    WXS_LOOKUP_INTERNAL,          /* ERR_INTERNAL */
    WXS_LOOKUP_SHUTTING_DOWN,     /* ERR_SHUTTING_DOWN */
    WXS_LOOKUP_RESULTS
} wxs_lookup_result;

/** How one call to WeChat's code2Session ended: its errcode (the ones the API documents, the
 *  others as OTHER_ERRCODE), or no answer. */
typedef enum {
    WXS_EXCHANGE_OK = 0,        /* errcode 0 */
    WXS_EXCHANGE_BUSY,          /* -1: system busy */
    WXS_EXCHANGE_INVALID_CODE,  /* 40029 */
    WXS_EXCHANGE_CODE_USED,     /* 40163 */
    WXS_EXCHANGE_HIGH_RISK,     /* 40226 */
    WXS_EXCHANGE_QUOTA,         /* 45011 */
    WXS_EXCHANGE_OTHER_ERRCODE, /* any other errcode */
    WXS_EXCHANGE_TIMEOUT,       /* no answer within wechat.timeoutMs */
    WXS_EXCHANGE_BAD_REPLY,     /* an answer that is not a code2Session reply */
    WXS_EXCHANGE_NETWORK,       /* the connection failed */
    WXS_EXCHANGE_RESULTS
} wxs_exchange_result;

/** The session store's operations, timed. */
typedef enum {
    WXS_STORE_GET = 0, /* a session look-up (code-only request) */
    WXS_STORE_WRITE,   /* a login's session write */
    WXS_STORE_CLAIM,   /* a code's single-flight claim */
    WXS_STORE_OPS
} wxs_store_op;

/** Latency histogram: buckets[i] counts the observations <= wxs_stats_bound_us(i) and above the
 *  bound before (not cumulative); buckets[WXS_STATS_BOUNDS] those above the last bound. */
#define WXS_STATS_BOUNDS 16
typedef struct wxs_histogram {
    uint64_t buckets[WXS_STATS_BOUNDS + 1];
    uint64_t count;
    uint64_t sum_us;
} wxs_histogram;

typedef struct wxs_stats {
    uint64_t logins[WXS_LOGIN_RESULTS];
    uint64_t lookups[WXS_LOOKUP_RESULTS];
    uint64_t exchanges[WXS_EXCHANGE_RESULTS]; /* calls to WeChat made by this context */
    wxs_histogram exchange_latency;           /* of those calls */
    uint64_t joined_local; /* logins that joined an exchange in flight on this context */
    uint64_t joined_store; /* logins that waited for an exchange claimed elsewhere (another
                            * worker or instance) and took its remembered result */
    wxs_histogram store_latency[WXS_STORE_OPS];
    uint64_t store_errors[WXS_STORE_OPS]; /* operations that failed (included in the latency) */
} wxs_stats;

/** Add ctx's counters to *sum (zero it first; call once per context to sum a process). Safe
 *  from any thread while ctx is alive: each counter is read atomically, the set is not a
 *  snapshot. */
void wxs_ctx_stats_add(const wxs_ctx *ctx, wxs_stats *sum);

/** Families of labels, for wxs_stats_label(). */
typedef enum {
    WXS_STATS_LOGIN = 0, /* wxs_login_result: "ok", "exchange_failed", ... */
    WXS_STATS_LOOKUP,    /* wxs_lookup_result: "ok", "session_expired", ... */
    WXS_STATS_EXCHANGE,  /* wxs_exchange_result: "0", "-1", "40029", ..., "other", "timeout",
                          * "bad_reply", "network" */
    WXS_STATS_STORE_OP,  /* wxs_store_op: "get", "write", "claim" */
} wxs_stats_family;

/** A stable lowercase name for value i of family (static, a metric label value); NULL when
 *  out of range. */
const char *wxs_stats_label(wxs_stats_family family, int i);
/** The upper bound of histogram bucket i in microseconds (100 us to 10 s); 0 when out of
 *  range. */
uint64_t wxs_stats_bound_us(int i);

#ifdef __cplusplus
}
#endif
#endif /* WXSESSION_H */
