/* store_mongo_doc.c: the MongoDB drawing store's parts that need no server: the connection URI
 * (built from the options, redacted for logs), the class of a libmongoc error, and the BSON
 * documents of a drawing and of the queries, and the decisions between a save's steps. Pure: no
 * I/O, no threads. The store itself (client
 * pool, jobs, ops) is store_mongo.c; both share store_mongo.h. */
#include "store_mongo.h"

#include <mongoc/mongoc.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ URI */

static int add_percent_encoded(wxs__buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p != '\0'; p++) {
        unsigned char c = *p;
        int unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            rc = wxs__buf_add(b, p, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = wxs__buf_add(b, esc, 3);
        }
    }
    return rc;
}

int os_mongo_name_has_password(const char *key, size_t len)
{
    static const char word[] = "password";
    for (size_t i = 0; i + sizeof word - 1 <= len; i++) {
        if (strncasecmp(key + i, word, sizeof word - 1) == 0)
            return 1;
    }
    return 0;
}

/* Append a URI query (without its '?'); with redact, the value of any option whose name
 * contains "password" (tlsCertificateKeyFilePassword) becomes "***". */
static int add_query(wxs__buf *b, const char *q, int redact)
{
    int rc = 0;
    while (rc == 0 && *q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (redact && eq != NULL && os_mongo_name_has_password(q, (size_t)(eq - q))) {
            rc = wxs__buf_add(b, q, (size_t)(eq - q) + 1);
            if (rc == 0)
                rc = wxs__buf_adds(b, "***");
        } else {
            rc = wxs__buf_add(b, q, len);
        }
        q += len;
        if (rc == 0 && *q == '&') {
            rc = wxs__buf_add(b, "&", 1);
            q++;
        }
    }
    return rc;
}

/* Copy a user's URI with the password of its user info (and password-like query options)
 * replaced by "***". Anything without "://" is not shown at all. */
static int redact_uri_string(wxs__buf *b, const char *uri)
{
    const char *scheme_end = strstr(uri, "://");
    if (scheme_end == NULL)
        return wxs__buf_adds(b, "***");
    const char *host = scheme_end + 3;
    size_t authority = strcspn(host, "/?");
    const char *at = NULL;
    for (const char *p = host; p < host + authority; p++) {
        if (*p == '@')
            at = p;
    }
    const char *colon = at != NULL ? memchr(host, ':', (size_t)(at - host)) : NULL;
    int rc = 0;
    if (colon != NULL) {
        rc = wxs__buf_add(b, uri, (size_t)(colon + 1 - uri));
        if (rc == 0)
            rc = wxs__buf_adds(b, "***");
        uri = at;
    }
    const char *query = strchr(uri, '?');
    if (rc == 0)
        rc = wxs__buf_add(b, uri, query != NULL ? (size_t)(query + 1 - uri) : strlen(uri));
    if (rc == 0 && query != NULL)
        rc = add_query(b, query + 1, 1);
    return rc;
}

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* mongodb://[user[:pass]@]host:port/database[?query] from the separate options. */
static int build_uri(wxs__buf *b, const struct onestroke_options *opts, int redact)
{
    const char *user = str_or_empty(opts->mongo_username);
    const char *pass = str_or_empty(opts->mongo_password);
    const char *host = str_or_empty(opts->mongo_host);
    const char *query = str_or_empty(opts->mongo_query);
    int ipv6 = strchr(host, ':') != NULL && host[0] != '[';
    if (host[0] == '\0')
        return WXS_EINVAL;
    int rc = wxs__buf_adds(b, "mongodb://");
    if (rc == 0 && user[0] != '\0') {
        rc = add_percent_encoded(b, user);
        if (rc == 0 && pass[0] != '\0')
            rc = redact ? wxs__buf_adds(b, ":***") : wxs__buf_add(b, ":", 1);
        if (rc == 0 && pass[0] != '\0' && !redact)
            rc = add_percent_encoded(b, pass);
        if (rc == 0)
            rc = wxs__buf_add(b, "@", 1);
    }
    if (rc == 0)
        rc = wxs__buf_printf(b, "%s%s%s:%lld/", ipv6 ? "[" : "", host, ipv6 ? "]" : "",
                             opts->mongo_port > 0 ? opts->mongo_port : 27017LL);
    if (rc == 0)
        rc = add_percent_encoded(b, str_or_empty(opts->mongo_database));
    if (query[0] == '?')
        query++;
    if (rc == 0 && query[0] != '\0') {
        rc = wxs__buf_add(b, "?", 1);
        if (rc == 0)
            rc = add_query(b, query, redact);
    }
    return rc;
}

static int make_uri(const struct onestroke_options *opts, int redact, char **out)
{
    wxs__buf b;
    const char *uri = str_or_empty(opts->mongo_uri);
    int rc;
    *out = NULL;
    wxs__buf_init(&b, OS_MONGO_URI_MAX);
    if (uri[0] != '\0')
        rc = redact ? redact_uri_string(&b, uri) : wxs__buf_adds(&b, uri);
    else
        rc = build_uri(&b, opts, redact);
    if (rc == 0) {
        *out = wxs__buf_take(&b, NULL);
        rc = *out != NULL ? 0 : WXS_ENOMEM;
    }
    wxs__buf_free(&b);
    return rc;
}

/* The connection URI (store.h). Returns 0, WXS_EINVAL (no host), WXS_ETOOBIG (longer than
 * OS_MONGO_URI_MAX) or WXS_ENOMEM; *out is freed with wxs__free. */
int os_mongo_uri(const struct onestroke_options *opts, char **out)
{
    return make_uri(opts, 0, out);
}

/* The URI with its password (and password-like query values) shown as "***", for logs. */
int os_mongo_uri_redacted(const struct onestroke_options *opts, char **out)
{
    return make_uri(opts, 1, out);
}

/* ------------------------------------------------------------ error mapping */

static os_mongo_error_class classify_server_code(uint32_t code)
{
    switch (code) {
    case 11000: /* DuplicateKey */
    case 11001:
    case 12582:
        return OS_MONGO_DUPLICATE_KEY;
    case 50: /* MaxTimeMSExpired */
        return OS_MONGO_TIMEOUT;
    case 13: /* Unauthorized */
    case 18: /* AuthenticationFailed */
        return OS_MONGO_AUTH;
    case 6:     /* HostUnreachable */
    case 7:     /* HostNotFound */
    case 89:    /* NetworkTimeout */
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
    case 13436: /* NotPrimaryOrSecondary */
        return OS_MONGO_UNREACHABLE;
    default:
        return OS_MONGO_FAILED;
    }
}

/* The class of a libmongoc error (domain, code); see store_mongo.h. */
os_mongo_error_class os_mongo_error_classify(uint32_t domain, uint32_t code)
{
    switch (domain) {
    case 0:
        return code == 0 ? OS_MONGO_OK : OS_MONGO_FAILED;
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM:
        return OS_MONGO_UNREACHABLE;
    case MONGOC_ERROR_SASL:
    case MONGOC_ERROR_SCRAM:
        return OS_MONGO_AUTH;
    case MONGOC_ERROR_CLIENT:
        if (code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
            return OS_MONGO_AUTH;
        if (code == MONGOC_ERROR_CLIENT_NOT_READY || code == MONGOC_ERROR_CLIENT_NO_ACCEPTABLE_PEER)
            return OS_MONGO_UNREACHABLE;
        return OS_MONGO_FAILED;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_COMMAND:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COLLECTION:
    case MONGOC_ERROR_INSERT:
    case MONGOC_ERROR_WRITE_CONCERN:
        return classify_server_code(code);
    default:
        return OS_MONGO_FAILED;
    }
}

const char *os_mongo_error_class_name(os_mongo_error_class c)
{
    static const char *const names[] = {
        [OS_MONGO_OK] = "ok",
        [OS_MONGO_UNREACHABLE] = "server unreachable",
        [OS_MONGO_AUTH] = "authentication failed",
        [OS_MONGO_DUPLICATE_KEY] = "duplicate key",
        [OS_MONGO_TIMEOUT] = "timed out",
        [OS_MONGO_FAILED] = "failed",
    };
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "failed";
}

int os_mongo_error_status(uint32_t domain, uint32_t code)
{
    return os_mongo_error_classify(domain, code) == OS_MONGO_OK ? 0 : WXS_ESTORE;
}

/* ------------------------------------------------------------ document mapping */

int os_mongo_append_str(bson_t *doc, const char *key, const char *s, size_t len)
{
    return len <= INT32_MAX && bson_append_utf8(doc, key, -1, s, (int)len);
}

int os_mongo_paint_to_bson(bson_t *doc, const char *openid, const os_paint *p)
{
    int ok = os_mongo_append_str(doc, OS_MONGO_FIELD_OPENID, openid, strlen(openid)) &&
             os_mongo_append_str(doc, OS_MONGO_FIELD_ID, p->id, strlen(p->id)) &&
             os_mongo_append_str(doc, OS_MONGO_FIELD_ACTIONS, p->actions, p->actions_len) &&
             bson_append_date_time(doc, OS_MONGO_FIELD_CREATED, -1, p->created_at_ms) &&
             bson_append_date_time(doc, OS_MONGO_FIELD_UPDATED, -1, p->updated_at_ms);
    return ok ? 0 : WXS_ETOOBIG;
}

int os_mongo_paint_from_bson(const bson_t *doc, os_paint *out)
{
    bson_iter_t it;
    uint32_t len = 0;
    memset(out, 0, sizeof *out);
    if (!bson_iter_init_find(&it, doc, OS_MONGO_FIELD_ID) || !BSON_ITER_HOLDS_UTF8(&it))
        return WXS_EPARSE;
    out->id = bson_iter_utf8(&it, &len);
    if (!os_paint_id_valid(out->id, len) || strlen(out->id) != len)
        return WXS_EPARSE;
    if (!bson_iter_init_find(&it, doc, OS_MONGO_FIELD_ACTIONS) || !BSON_ITER_HOLDS_UTF8(&it))
        return WXS_EPARSE;
    out->actions = bson_iter_utf8(&it, &len);
    out->actions_len = len;
    if (!bson_iter_init_find(&it, doc, OS_MONGO_FIELD_CREATED) || !BSON_ITER_HOLDS_DATE_TIME(&it))
        return WXS_EPARSE;
    out->created_at_ms = bson_iter_date_time(&it);
    out->updated_at_ms = out->created_at_ms;
    if (bson_iter_init_find(&it, doc, OS_MONGO_FIELD_UPDATED) && BSON_ITER_HOLDS_DATE_TIME(&it))
        out->updated_at_ms = bson_iter_date_time(&it);
    return 0;
}

int os_mongo_key_filter(bson_t *doc, const char *openid, const char *id)
{
    int ok = os_mongo_append_str(doc, OS_MONGO_FIELD_OPENID, openid, strlen(openid)) &&
             os_mongo_append_str(doc, OS_MONGO_FIELD_ID, id, strlen(id));
    return ok ? 0 : WXS_ETOOBIG;
}

int os_mongo_save_update(bson_t *doc, const char *actions, size_t actions_len, int64_t now_ms)
{
    bson_t set, on_insert;
    int ok = bson_append_document_begin(doc, "$set", -1, &set);
    if (!ok)
        return WXS_ETOOBIG;
    ok = os_mongo_append_str(&set, OS_MONGO_FIELD_ACTIONS, actions, actions_len) &&
         bson_append_date_time(&set, OS_MONGO_FIELD_UPDATED, -1, now_ms);
    ok = bson_append_document_end(doc, &set) && ok;
    ok = ok && bson_append_document_begin(doc, "$setOnInsert", -1, &on_insert);
    if (!ok)
        return WXS_ETOOBIG;
    ok = bson_append_date_time(&on_insert, OS_MONGO_FIELD_CREATED, -1, now_ms);
    ok = bson_append_document_end(doc, &on_insert) && ok;
    return ok ? 0 : WXS_ETOOBIG;
}

int os_mongo_list_filter(bson_t *doc, const char *openid, const os_paint_cursor *cursor)
{
    bson_t lte, ors, older, same_time, lt_time, lt_id;
    int ok = os_mongo_append_str(doc, OS_MONGO_FIELD_OPENID, openid, strlen(openid));
    if (!ok)
        return WXS_ETOOBIG;
    if (cursor == NULL || cursor->id[0] == '\0')
        return 0;
    /* createdAt <= t AND (createdAt < t OR id < c.id) */
    ok = BSON_APPEND_DOCUMENT_BEGIN(doc, OS_MONGO_FIELD_CREATED, &lte) &&
         BSON_APPEND_DATE_TIME(&lte, "$lte", cursor->created_at_ms) &&
         bson_append_document_end(doc, &lte) && BSON_APPEND_ARRAY_BEGIN(doc, "$or", &ors) &&
         BSON_APPEND_DOCUMENT_BEGIN(&ors, "0", &older) &&
         BSON_APPEND_DOCUMENT_BEGIN(&older, OS_MONGO_FIELD_CREATED, &lt_time) &&
         BSON_APPEND_DATE_TIME(&lt_time, "$lt", cursor->created_at_ms) &&
         bson_append_document_end(&older, &lt_time) && bson_append_document_end(&ors, &older) &&
         BSON_APPEND_DOCUMENT_BEGIN(&ors, "1", &same_time) &&
         BSON_APPEND_DOCUMENT_BEGIN(&same_time, OS_MONGO_FIELD_ID, &lt_id) &&
         BSON_APPEND_UTF8(&lt_id, "$lt", cursor->id) &&
         bson_append_document_end(&same_time, &lt_id) &&
         bson_append_document_end(&ors, &same_time) && bson_append_array_end(doc, &ors);
    return ok ? 0 : WXS_ETOOBIG;
}

int os_mongo_list_opts(bson_t *doc, unsigned limit)
{
    bson_t sort, proj;
    int ok =
        BSON_APPEND_DOCUMENT_BEGIN(doc, "sort", &sort) &&
        BSON_APPEND_INT32(&sort, OS_MONGO_FIELD_CREATED, -1) &&
        BSON_APPEND_INT32(&sort, OS_MONGO_FIELD_ID, -1) && bson_append_document_end(doc, &sort) &&
        BSON_APPEND_INT64(doc, "limit", (int64_t)limit + 1) &&
        BSON_APPEND_DOCUMENT_BEGIN(doc, "projection", &proj) &&
        BSON_APPEND_INT32(&proj, "_id", 0) && BSON_APPEND_INT32(&proj, OS_MONGO_FIELD_ID, 1) &&
        BSON_APPEND_INT32(&proj, OS_MONGO_FIELD_ACTIONS, 1) &&
        BSON_APPEND_INT32(&proj, OS_MONGO_FIELD_CREATED, 1) &&
        BSON_APPEND_INT32(&proj, OS_MONGO_FIELD_UPDATED, 1) && bson_append_document_end(doc, &proj);
    return ok ? 0 : WXS_ETOOBIG;
}

/* ------------------------------------------------------------ a save's steps */

int64_t os_mongo_reply_count(const bson_t *reply, const char *field)
{
    bson_iter_t it;
    if (reply != NULL && bson_iter_init_find(&it, reply, field) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return 0;
}

os_mongo_save_step os_mongo_save_next(os_mongo_save_step step, int ok, uint32_t domain,
                                      uint32_t code, int64_t n, long long max)
{
    os_mongo_save_step next = OS_MONGO_SAVE_FAILED;
    switch (step) {
    case OS_MONGO_SAVE_UPDATE:
        if (ok)
            next = n > 0 ? OS_MONGO_SAVE_DONE : OS_MONGO_SAVE_COUNT;
        break;
    case OS_MONGO_SAVE_COUNT:
        if (ok)
            next = n >= max ? OS_MONGO_SAVE_FULL : OS_MONGO_SAVE_UPSERT;
        break;
    case OS_MONGO_SAVE_UPSERT:
        if (ok)
            next = OS_MONGO_SAVE_DONE;
        else if (os_mongo_error_classify(domain, code) == OS_MONGO_DUPLICATE_KEY)
            next = OS_MONGO_SAVE_RETRY;
        break;
    case OS_MONGO_SAVE_RETRY:
        if (ok && n > 0)
            next = OS_MONGO_SAVE_DONE;
        break;
    default: /* a final step stays final */
        next = step;
        break;
    }
    return next;
}

const char *os_mongo_save_step_name(os_mongo_save_step step)
{
    static const char *const names[] = {
        [OS_MONGO_SAVE_UPDATE] = "update", [OS_MONGO_SAVE_COUNT] = "count",
        [OS_MONGO_SAVE_UPSERT] = "upsert", [OS_MONGO_SAVE_RETRY] = "retry",
        [OS_MONGO_SAVE_DONE] = "done",     [OS_MONGO_SAVE_FULL] = "full",
        [OS_MONGO_SAVE_FAILED] = "failed",
    };
    return (unsigned)step < sizeof names / sizeof names[0] ? names[step] : "failed";
}
