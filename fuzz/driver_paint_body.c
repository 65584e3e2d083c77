/* driver_paint_body.c: libFuzzer driver for One Stroke request bodies (os_body_parse, JSON and
 * urlencoded, src/onestroke/body.c) and for the list cursor ("<createdAt>.<id>", decoded by
 * os_cursor_decode in src/onestroke/paint.c). */
#include "fuzz.h"

#include "body.h"
#include "paint.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <wxsession.h>

/* ---- bodies */

/* The contract's choice of parser: JSON for application/json or a body starting with '{'. */
static int is_json_body(const char *ctype, const char *body, size_t len)
{
    size_t i = 0;

    if (ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0)
        return 1;
    while (i < len && strchr(" \t\r\n", body[i]) != NULL && body[i] != '\0')
        i++;
    return i < len && body[i] == '{';
}

static void expect_bytes(const char *what, const char *got, size_t got_len, const char *want,
                         size_t want_len)
{
    FUZZ_CHECK(got != NULL && got_len == want_len && memcmp(got, want, want_len) == 0,
               "%s: got %zu bytes '%.*s', want %zu bytes '%.*s'", what, got_len,
               got != NULL ? (int)got_len : 0, got != NULL ? got : "", want_len, (int)want_len,
               want);
}

/* A parsed JSON body: the fields must be what jansson finds in it. */
static void check_json_fields(const char *body, size_t len, const os_body *b)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *id, *actions;

    FUZZ_CHECK(json_is_object(doc), "accepted a JSON body that is not an object");
    id = json_object_get(doc, "id");
    actions = json_object_get(doc, "actions");
    if (json_is_string(id)) {
        expect_bytes("id", b->id, b->id != NULL ? strlen(b->id) : 0, json_string_value(id),
                     json_string_length(id));
    } else if (json_is_integer(id)) {
        char digits[32];
        snprintf(digits, sizeof digits, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        expect_bytes("id", b->id, b->id != NULL ? strlen(b->id) : 0, digits, strlen(digits));
    } else {
        FUZZ_CHECK(b->id == NULL && (id == NULL || json_is_null(id)), "id of another type");
    }
    if (json_is_string(actions)) {
        expect_bytes("actions", b->actions, b->actions_len, json_string_value(actions),
                     json_string_length(actions));
    } else if (json_is_array(actions) || json_is_object(actions)) {
        char *text = json_dumps(actions, JSON_COMPACT | JSON_PRESERVE_ORDER);
        FUZZ_CHECK(text != NULL, "out of memory");
        expect_bytes("actions", b->actions, b->actions_len, text, strlen(text));
        free(text);
    } else {
        FUZZ_CHECK(b->actions == NULL, "actions of another type");
    }
    json_decref(doc);
}

/* The last value of field name in a urlencoded body, '+' as space and %XX decoded by the
 * reference rules; NULL when absent. *n gets its length. */
static char *form_field(const char *body, size_t len, const char *name, size_t *n)
{
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    size_t i = 0;
    char *out;

    while (i <= len) {
        const char *end = memchr(body + i, '&', len - i);
        size_t flen = end != NULL ? (size_t)(end - (body + i)) : len - i;
        const char *field = body + i;
        if ((flen == nlen && memcmp(field, name, nlen) == 0) ||
            (flen > nlen && memcmp(field, name, nlen) == 0 && field[nlen] == '=')) {
            found = flen > nlen ? field + nlen + 1 : field + flen;
            found_len = flen > nlen ? flen - nlen - 1 : 0;
        }
        if (end == NULL)
            break;
        i += flen + 1;
    }
    if (found == NULL)
        return NULL;
    out = malloc(found_len + 1);
    FUZZ_CHECK(out != NULL, "out of memory");
    *n = 0;
    for (size_t k = 0; k < found_len; k++) {
        char c = found[k];
        if (c == '%') {
            char hex[3] = {found[k + 1], found[k + 2], '\0'};
            FUZZ_CHECK(k + 2 < found_len && strspn(hex, "0123456789abcdefABCDEF") == 2,
                       "accepted a bad escape in %s", name);
            c = (char)strtol(hex, NULL, 16);
            k += 2;
        } else if (c == '+') {
            c = ' ';
        }
        out[(*n)++] = c;
    }
    out[*n] = '\0';
    return out;
}

/* A parsed urlencoded body: the last id= and actions= fields, decoded. */
static void check_form_fields(const char *body, size_t len, const os_body *b)
{
    size_t id_len = 0, actions_len = 0;
    char *id = form_field(body, len, "id", &id_len);
    char *actions = form_field(body, len, "actions", &actions_len);

    /* the id is used as a C string: one with a NUL byte must not pass as a shorter one */
    if (id != NULL)
        expect_bytes("id", b->id, b->id != NULL ? strlen(b->id) : 0, id, id_len);
    else
        FUZZ_CHECK(b->id == NULL, "id without an id field");
    if (actions != NULL)
        expect_bytes("actions", b->actions, b->actions_len, actions, actions_len);
    else
        FUZZ_CHECK(b->actions == NULL, "actions without an actions field");
    free(id);
    free(actions);
}

/* 1 when s[0..n) is valid UTF-8: jansson refuses to make a string of anything else. */
static int utf8_ok(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

/* Byte 0: bits 0-1 the Content-Type, bits 2-3 the nesting limit; the rest is the body. */
static void check_body(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL, "application/json",
                                        "application/x-www-form-urlencoded",
                                        "application/json; charset=utf-8"};
    static const int depths[] = {64, 1, 3, 16};
    const char *ctype = types[data[0] & 3];
    int depth = depths[(data[0] >> 2) & 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    os_body b;
    const char *reason = (const char *)"unset";
    char err[256] = "";
    int rc;

    rc = os_body_parse(ctype, body, len, depth, &b, &reason, err, sizeof err);
    if (rc < 0) {
        FUZZ_CHECK(rc == WXS_EPARSE, "rc %d", rc);
        FUZZ_CHECK(reason != NULL && strncmp(reason, "ERR_", 4) == 0, "no wire reason");
        FUZZ_CHECK(err[0] != '\0', "no message");
        FUZZ_CHECK(b.id == NULL && b.actions == NULL && b.actions_len == 0, "fields left set");
        return;
    }
    FUZZ_CHECK(reason == NULL, "reason %s on success", reason);
    if (b.id != NULL)
        FUZZ_CHECK(utf8_ok(b.id, strlen(b.id)), "id not UTF-8");
    if (b.actions != NULL) {
        FUZZ_CHECK(b.actions[b.actions_len] == '\0', "actions not NUL-terminated");
        FUZZ_CHECK(utf8_ok(b.actions, b.actions_len), "actions not UTF-8");
    } else {
        FUZZ_CHECK(b.actions_len == 0, "actions_len %zu without actions", b.actions_len);
    }
    if (is_json_body(ctype, body, len))
        check_json_fields(body, len, &b);
    else
        check_form_fields(body, len, &b);
    os_body_clear(&b);
    FUZZ_CHECK(b.id == NULL && b.actions == NULL, "clear left fields");
}

/* ---- cursors */

/* The cursor rule, from README.md: 1-19 decimal digits of a createdAt that fits in int64, a
 * '.', and a valid drawing id. */
static int ref_cursor_ok(const char *s)
{
    const char *dot = strchr(s, '.');
    size_t digits = dot != NULL ? (size_t)(dot - s) : 0;
    static const char max[] = "9223372036854775807";

    if (dot == NULL || digits == 0 || digits > 19)
        return 0;
    for (size_t i = 0; i < digits; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    if (digits == 19 && memcmp(s, max, 19) > 0)
        return 0;
    return os_paint_id_valid(dot + 1, strlen(dot + 1));
}

/* os_cursor_decode accepts exactly the cursors of the rule, leaves a refused one's output alone,
 * and a decoded cursor encodes to text that decodes to the same place. */
static void check_cursor(const uint8_t *data, size_t size)
{
    char *cursor = malloc(size);
    os_paint_cursor c = {.created_at_ms = -1, .id = "unset"}, again;
    char text[OS_CURSOR_MAX];
    int rc, ok;

    FUZZ_CHECK(cursor != NULL, "out of memory");
    memcpy(cursor, data + 1, size - 1);
    cursor[size - 1] = '\0';
    rc = os_cursor_decode(cursor, &c);
    ok = ref_cursor_ok(cursor);
    FUZZ_CHECK((rc == 0) == ok, "cursor '%s': rc %d, expected %s", cursor, rc,
               ok ? "valid" : "invalid");
    if (rc == 0) {
        os_paint p = {.id = c.id, .created_at_ms = c.created_at_ms};
        os_cursor_encode(&p, text);
        FUZZ_CHECK(os_cursor_decode(text, &again) == 0 && again.created_at_ms == c.created_at_ms &&
                       strcmp(again.id, c.id) == 0,
                   "cursor '%s' encodes to '%s'", cursor, text);
    } else {
        FUZZ_CHECK(c.created_at_ms == -1 && strcmp(c.id, "unset") == 0, "refused cursor written");
    }
    free(cursor);
}

/* Byte 0 bit 7 set: the rest is a list cursor; clear: a save/delete body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 0x80)
        check_cursor(data, size);
    else
        check_body(data, size);
    return 0;
}
