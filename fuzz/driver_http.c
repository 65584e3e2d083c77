/* driver_http.c: libFuzzer driver for wxsessiond's HTTP/1.1 request parser (src/server/
 * http_parse.c, on llhttp) and response heads (src/server/http_write.c): the bytes a client
 * sends go straight into the pure parser, as the connection (http.c) feeds them, and what comes
 * out is checked; each request is then answered with a response head that must parse back.
 *
 * Input: byte 0 is the mode, the rest the bytes the client sends.
 *   bit 2    small limits (headers 256 bytes, body 512) instead of the server's defaults
 *   bits 4-6 arrival size: 0 all at once, k: 4^(k-1) bytes at a time
 *   bit 7    every answer asks to close the connection (parsing stops after the first request)
 *   bits 0, 1, 3 are unused (they chose the handler's timing when this driver went through a
 *   real socket; kept so that the corpus keeps its meaning)
 * A target "/sNNN..." makes the answer's status NNN.
 *
 * Checks besides ASan/UBSan/LSan: every request has a '/' path, NUL-terminated strings whose
 * lengths match, trimmed header values free of control bytes, a body within the limit; a
 * refusal is one of the statuses and codes http_parse.h lists; the parser always makes
 * progress; parsing the input as it arrives in pieces gives the same requests and the same
 * outcome as parsing it whole; each answer's head parses as HTTP/1.1 with its status, length
 * and Connection. */
#include "fuzz.h"

#include "http_parse.h"
#include "http_write.h"

#include <string.h>
#include <strings.h>

#define MODE_SMALL 4
#define MODE_CLOSE 128
#define LOG_MAX 8192 /* transcript bytes kept for the report; the hash covers all */

/* What one parse of an input produced, to compare two parses. */
typedef struct transcript {
    uint64_t hash;
    unsigned requests;
    char log[LOG_MAX];
    size_t log_len;
} transcript;

static const char *const checked_headers[] = {
    "host",           "content-type",        "content-length", "x-wx-code", "x-wx-rawdata",
    "x-wx-signature", "x-wx-encrypted-data", "expect",         "connection"};

static void record(transcript *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        t->hash ^= (unsigned char)p[i];
        t->hash *= 1099511628211ULL;
    }
    if (t->log_len + n <= LOG_MAX) {
        memcpy(t->log + t->log_len, p, n);
        t->log_len += n;
    }
}

static void record_str(transcript *t, const char *s)
{
    record(t, s, strlen(s));
}

/* 1 when v[0..n) holds a control byte other than HTAB (RFC 9110 field-value). */
static int has_control(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    return 0;
}

/* The status of the answer: NNN for a target "/sNNN...", else 200. */
static int status_for(const char *path, size_t len)
{
    int status = 0;

    if (len < 5 || path[1] != 's')
        return 200;
    for (size_t i = 2; i < 5; i++) {
        if (path[i] < '0' || path[i] > '9')
            return 200;
        status = status * 10 + (path[i] - '0');
    }
    return status;
}

/* ---- the answer's head, parsed back */

typedef struct head_check {
    int complete;
    int content_length_seen;
    int in_connection; /* the field being read is Connection */
    char connection[16];
} head_check;

static int on_head_field(llhttp_t *p, const char *at, size_t n)
{
    head_check *h = p->data;

    if (n == 14 && strncasecmp(at, "content-length", 14) == 0)
        h->content_length_seen = 1;
    h->in_connection = n == 10 && strncasecmp(at, "connection", 10) == 0;
    return 0;
}

static int on_head_value(llhttp_t *p, const char *at, size_t n)
{
    head_check *h = p->data;

    if (h->in_connection && n < sizeof(h->connection))
        memcpy(h->connection, at, n);
    return 0;
}

static int on_head_complete(llhttp_t *p)
{
    head_check *h = p->data;

    h->complete = 1;
    return 1; /* no body follows in what we feed */
}

static void check_answer_head(int status, size_t body_len, int keep)
{
    static llhttp_settings_t settings;
    static http_date date;
    char head[HTTP_WRITE_HEAD_MAX];
    head_check h = {0};
    llhttp_t parser;
    int sent = status;
    size_t len = http_write_head(head, &sent, "application/x-fuzz", body_len, keep, &date);
    llhttp_errno_t e;

    FUZZ_CHECK(len < HTTP_WRITE_HEAD_MAX, "head of %zu bytes", len);
    FUZZ_CHECK(sent >= 100 && sent <= 599 && (sent == status || sent == 500), "status %d for %d",
               sent, status);
    settings.on_header_field = on_head_field;
    settings.on_header_value = on_head_value;
    settings.on_headers_complete = on_head_complete;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    parser.data = &h;
    e = llhttp_execute(&parser, head, len);
    FUZZ_CHECK((e == HPE_OK || (e == HPE_PAUSED_UPGRADE && sent == 101)) && h.complete,
               "answer head does not parse: %s", llhttp_errno_name(e));
    FUZZ_CHECK(llhttp_get_status_code(&parser) == sent, "status %d parsed as %d", sent,
               llhttp_get_status_code(&parser));
    FUZZ_CHECK(h.content_length_seen == !http_write_status_has_no_body(sent),
               "Content-Length on a %d answer", sent);
    FUZZ_CHECK(strcmp(h.connection, keep ? "keep-alive" : "close") == 0, "Connection: %s, keep %d",
               h.connection, keep);
}

/* ---- one request */

static void check_request(const http_parse *p, size_t body_bytes, transcript *t, int close_all)
{
    size_t len = 0, qlen = 0, blen = 0;
    const char *path = http_parse_path(p, &len);
    const char *query = http_parse_query(p, &qlen);
    const char *body = http_parse_body(p, &blen);
    char num[64];

    FUZZ_CHECK(path != NULL && path[0] == '/' && path[len] == '\0' && strlen(path) == len,
               "path of %zu bytes", len);
    FUZZ_CHECK(query == NULL || (query[qlen] == '\0' && strlen(query) == qlen), "query");
    FUZZ_CHECK(body != NULL && body[blen] == '\0', "body not NUL-terminated");
    FUZZ_CHECK(blen <= body_bytes, "body of %zu bytes over %zu", blen, body_bytes);
    snprintf(num, sizeof(num), "R %s %d %zu ", http_parse_method_name(http_parse_method(p)),
             http_parse_keep_alive(p), blen);
    record_str(t, num);
    record(t, path, len);
    if (query != NULL) {
        record_str(t, "?");
        record(t, query, qlen);
    }
    for (size_t i = 0; i < sizeof(checked_headers) / sizeof(checked_headers[0]); i++) {
        size_t vlen = 0;
        const char *v = http_parse_header(p, checked_headers[i], &vlen);
        if (v == NULL)
            continue;
        FUZZ_CHECK(v[vlen] == '\0' && strlen(v) == vlen, "header value length");
        FUZZ_CHECK(!has_control(v, vlen), "control byte in a header value");
        FUZZ_CHECK(vlen == 0 ||
                       (v[0] != ' ' && v[0] != '\t' && v[vlen - 1] != ' ' && v[vlen - 1] != '\t'),
                   "value not trimmed");
        record_str(t, " ");
        record_str(t, checked_headers[i]);
        record_str(t, "=");
        record(t, v, vlen);
    }
    record_str(t, "\n");
    record(t, body, blen);
    t->requests++;
    check_answer_head(status_for(path, len), 11, http_parse_keep_alive(p) && !close_all);
}

/* ---- one parse of the input */

/* Parse data as it arrives chunk bytes at a time (0: all at once), as http.c feeds it, until
 * the input ends, is refused, or a request ends the connection. */
static void parse_input(const uint8_t *data, size_t n, size_t chunk, unsigned mode, transcript *t)
{
    size_t header_bytes = (mode & MODE_SMALL) ? 256 : 16384;
    size_t body_bytes = (mode & MODE_SMALL) ? 512 : 1048576;
    const char *in = (const char *)data;
    size_t off = 0;
    int done = 0;
    http_parse p;
    char num[64];

    memset(t, 0, sizeof(*t));
    t->hash = 1469598103934665603ULL;
    http_parse_init(&p, header_bytes, body_bytes);
    while (off < n && !done) {
        size_t end = chunk > 0 && n - off > chunk ? off + chunk : n;
        while (off < end && !done) {
            size_t used = 0;
            http_parse_result r = http_parse_feed(&p, in + off, end - off, &used);
            FUZZ_CHECK(used <= end - off, "used %zu of %zu", used, end - off);
            off += used;
            if (r == HTTP_PARSE_MORE) {
                FUZZ_CHECK(off == end, "MORE with %zu bytes left", end - off);
            } else if (r == HTTP_PARSE_HEAD_DONE) {
                FUZZ_CHECK(http_parse_get_phase(&p) == HTTP_PARSE_BODY, "phase after the head");
                record_str(t, http_parse_wants_continue(&p) ? "C\n" : "H\n");
            } else if (r == HTTP_PARSE_REQUEST) {
                check_request(&p, body_bytes, t, (mode & MODE_CLOSE) != 0);
                done = !http_parse_keep_alive(&p) || (mode & MODE_CLOSE);
                http_parse_next(&p);
            } else {
                const char *code;
                const char *msg;
                int status = http_parse_error(&p, &code, &msg);
                FUZZ_CHECK(
                    (status == 400 && strcmp(code, "ERR_BAD_REQUEST") == 0) ||
                        (status == 413 && strcmp(code, "ERR_BODY_TOO_LARGE") == 0) ||
                        (status == 431 && strcmp(code, "ERR_HEADER_TOO_LARGE") == 0) ||
                        (status == 505 && strcmp(code, "ERR_HTTP_VERSION_NOT_SUPPORTED") == 0),
                    "refused with %d %s", status, code);
                FUZZ_CHECK(msg != NULL && msg[0] != '\0', "no message");
                snprintf(num, sizeof(num), "E %d %s\n", status, code);
                record_str(t, num);
                check_answer_head(status, 64, 0);
                done = 1;
            }
        }
    }
    snprintf(num, sizeof(num), "end %d\n", done ? -1 : (int)http_parse_get_phase(&p));
    record_str(t, num);
    http_parse_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static transcript pieces, whole;
    unsigned mode;
    size_t chunk;

    if (size == 0)
        return 0;
    mode = data[0];
    chunk = (mode >> 4) & 7 ? (size_t)1 << (2 * (((mode >> 4) & 7) - 1)) : 0;
    parse_input(data + 1, size - 1, chunk, mode, &pieces);
    if (chunk == 0)
        return 0;
    parse_input(data + 1, size - 1, 0, mode, &whole);
    FUZZ_CHECK(pieces.hash == whole.hash && pieces.requests == whole.requests,
               "in pieces of %zu: %u requests\n%.*s\nwhole: %u requests\n%.*s", chunk,
               pieces.requests, (int)pieces.log_len, pieces.log, whole.requests, (int)whole.log_len,
               whole.log);
    return 0;
}
