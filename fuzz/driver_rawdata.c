/* driver_rawdata.c: libFuzzer driver for decoded rawData: wxs__user_parse, the stored user record
 * (wxs__user_dump, wxs__user_record) and wxs__user_openid, checked as a round trip. It is also a
 * differential test of the plain path: wxs__user_record writes plain rawData without jansson,
 * and must agree byte for byte with wxs__user_parse + wxs__user_dump (jansson). */
#include "fuzz.h"

#include "protocol.h"

#include <string.h>

#define OPENID_MAX 129

/* The openId set into the record: an official one, or up to 28 bytes of [A-Za-z0-9_-] taken
 * from the input's first byte onwards (openids are plain text). */
static void pick_openid(const uint8_t *data, size_t size, char out[OPENID_MAX])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    size_t n = size < 28 ? size : 28;

    if (size == 0 || (data[0] & 1) == 0) {
        strcpy(out, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[data[i] & 63];
    out[n] = '\0';
}

/* The nesting limit: the default most of the time, small ones to reach the depth check. */
static int pick_depth(const uint8_t *data, size_t size)
{
    static const int depths[] = {64, 64, 64, 64, 1, 2, 3, 8};

    return size > 0 ? depths[(data[0] >> 1) & 7] : 64;
}

/* Parse a record we wrote, dump it again with the same openId: it must come out byte for byte
 * the same, and its openId must be found. */
static void check_record(const char *rec, size_t len, const char *openid, int depth)
{
    char err[256] = "";
    char found[OPENID_MAX];
    json_t *again = NULL;
    char *second = NULL;
    size_t second_len = 0;
    char tail[OPENID_MAX + 16];
    size_t tail_len;
    int rc;

    FUZZ_CHECK(rec[len] == '\0' && strlen(rec) == len, "record is not one C string");
    tail_len = (size_t)snprintf(tail, sizeof tail, "\"openId\":\"%s\"}", openid);
    FUZZ_CHECK(len > tail_len && memcmp(rec + len - tail_len, tail, tail_len) == 0 &&
                   (rec[len - tail_len - 1] == ',' || len == tail_len + 1),
               "openId is not the last member: %s", rec);
    rc = wxs__user_openid(rec, len, found, sizeof found);
    FUZZ_CHECK(rc == 0 && strcmp(found, openid) == 0, "openid rc %d, '%s' for '%s'", rc,
               rc == 0 ? found : "", openid);
    rc = wxs__user_parse(rec, len, depth, &again, err, sizeof err);
    FUZZ_CHECK(rc == 0, "our own record does not parse (%s): %s", err, rec);
    rc = wxs__user_dump(again, openid, &second, &second_len);
    FUZZ_CHECK(rc == 0, "second dump failed: %d", rc);
    FUZZ_CHECK(second_len == len && memcmp(second, rec, len) == 0,
               "dump is not stable:\n first: %s\nsecond: %s", rec, second);
    json_decref(again);
    wxs__free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = size > 0 ? (const char *)data + 1 : "";
    size_t raw_len = size > 0 ? size - 1 : 0;
    char openid[OPENID_MAX];
    int depth = pick_depth(data, size);
    char err[256] = "";
    json_t *obj = NULL;
    char *rec = NULL, *rec2 = NULL;
    size_t rec_len = 0, rec2_len = 0;
    char err2[256] = "";
    int rc, rc2;

    pick_openid(data, size, openid);
    rc = wxs__user_parse(raw, raw_len, depth, &obj, err, sizeof err);
    rc2 = wxs__user_record(raw, raw_len, depth, openid, &rec2, &rec2_len, err2, sizeof err2);
    FUZZ_CHECK(rc == rc2, "user_parse %d, user_record %d", rc, rc2);
    if (rc < 0) {
        FUZZ_CHECK(rc == WXS_EPARSE && obj == NULL && rec2 == NULL, "rc %d", rc);
        FUZZ_CHECK(err[0] != '\0' && strcmp(err, err2) == 0, "messages '%s' and '%s'", err, err2);
        return 0;
    }
    FUZZ_CHECK(json_is_object(obj), "parsed rawData is not an object");
    rc = wxs__user_dump(obj, openid, &rec, &rec_len);
    FUZZ_CHECK(rc == 0, "dump failed: %d", rc);
    FUZZ_CHECK(rec_len == rec2_len && memcmp(rec, rec2, rec_len) == 0,
               "user_dump and user_record differ:\n%s\n%s", rec, rec2);
    check_record(rec, rec_len, openid, depth);
    json_decref(obj);
    wxs__free(rec);
    wxs__free(rec2);
    return 0;
}
