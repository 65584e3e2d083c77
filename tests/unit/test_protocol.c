/* test_protocol.c: the pure protocol core: percent-decoding, UTF-8, signatures (WeChat's
 * official vector), user records and the error bodies, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static const char official_raw[] =
    "{\"nickName\":\"Band\",\"gender\":1,\"language\":\"zh_CN\",\"city\":\"Guangzhou\","
    "\"province\":\"Guangdong\",\"country\":\"CN\",\"avatarUrl\":\"http://wx.qlogo.cn/mmopen/"
    "vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5"
    "ibXQ/0\"}";
static const char official_key[] = "HyVFkGl5F5OQWJZZaNzBBg==";
static const char official_sig[] = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";

static void signature_official_vector(void **state)
{
    char hex[41];
    wxs_signature(official_raw, strlen(official_raw), official_key, strlen(official_key), hex);
    assert_string_equal(hex, official_sig);
    assert_true(wxs_signature_verify(official_raw, strlen(official_raw), official_key,
                                     strlen(official_key), official_sig, 40));
}

static void signature_rejects(void **state)
{
    static const struct {
        const char *sig;
        const char *why;
    } cases[] = {
        {"75e81ceda165f4ffa64f4068af58c64b8f54b88d", "last digit differs"},
        {"75E81CEDA165F4FFA64F4068AF58C64B8F54B88C", "uppercase"},
        {"75e81ceda165f4ffa64f4068af58c64b8f54b88", "too short"},
        {"75e81ceda165f4ffa64f4068af58c64b8f54b88cc", "too long"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ok = wxs_signature_verify(official_raw, strlen(official_raw), official_key,
                                      strlen(official_key), cases[i].sig, strlen(cases[i].sig));
        if (ok)
            fail_msg("accepted a bad signature (%s)", cases[i].why);
    }
    /* a changed rawData byte */
    char raw[sizeof official_raw];
    memcpy(raw, official_raw, sizeof raw);
    raw[14] = 'b';
    assert_false(wxs_signature_verify(raw, strlen(raw), official_key, strlen(official_key),
                                      official_sig, 40));
}

static void percent_decode_table(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *out;
    } cases[] = {
        {"", 0, ""},
        {"abc", 0, "abc"},
        {"%7B%22a%22%3A1%7D", 0, "{\"a\":1}"},
        {"a+b", 0, "a+b"}, /* decodeURIComponent keeps '+' */
        {"%e5%be%ae%E4%BF%A1", 0, "\xe5\xbe\xae\xe4\xbf\xa1"},
        {"%F0%9F%98%80", 0, "\xf0\x9f\x98\x80"}, /* emoji */
        {"%", WXS_EPARSE, NULL},                 /* a lone % */
        {"100%", WXS_EPARSE, NULL},
        {"%4", WXS_EPARSE, NULL},
        {"%zz", WXS_EPARSE, NULL},
        {"%C3%28", WXS_EPARSE, NULL},       /* invalid UTF-8 continuation */
        {"%C0%AF", WXS_EPARSE, NULL},       /* overlong */
        {"%ED%A0%80", WXS_EPARSE, NULL},    /* surrogate */
        {"%F4%90%80%80", WXS_EPARSE, NULL}, /* > U+10FFFF */
        {"%E4%BF", WXS_EPARSE, NULL},       /* truncated sequence */
        {"\xff", WXS_EPARSE, NULL},         /* raw invalid byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t n = 99;
        int rc = wxs_percent_decode(cases[i].in, strlen(cases[i].in), out, sizeof out, &n);
        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d, want %d", i, cases[i].in, rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(n, strlen(cases[i].out));
            assert_memory_equal(out, cases[i].out, n);
        }
    }
}

static void percent_decode_limit(void **state)
{
    char out[4];
    size_t n;
    assert_int_equal(wxs_percent_decode("abcd", 4, out, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(wxs_percent_decode("abcde", 5, out, 4, &n), WXS_ETOOBIG);
    assert_int_equal(wxs_percent_decode("%61%62%63%64%65", 15, out, 4, &n), WXS_ETOOBIG);
}

static void json_depth(void **state)
{
    assert_true(wxs__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
    assert_false(wxs__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
    /* brackets inside strings do not count */
    assert_true(wxs__json_depth_ok("{\"a\":\"[[[[\\\"[[\"}", 16, 1));
}

static void user_record_appends_openid_last(void **state)
{
    static const struct {
        const char *raw;
        const char *want;
    } cases[] = {
        {"{\"nickName\":\"Band\",\"gender\":1}",
         "{\"nickName\":\"Band\",\"gender\":1,\"openId\":\"oABC\"}"},
        {"{\"nickName\":\"\xe5\xbe\xae\xe4\xbf\xa1\xe7\x94\xa8\xe6\x88\xb7\xf0\x9f\x98\x80\"}",
         "{\"nickName\":\"\xe5\xbe\xae\xe4\xbf\xa1\xe7\x94\xa8\xe6\x88\xb7\xf0\x9f\x98\x80\","
         "\"openId\":\"oABC\"}"},
        /* a client-sent openId is replaced, and ours goes last */
        {"{\"openId\":\"evil\",\"a\":{\"openId\":\"nested\"}}",
         "{\"a\":{\"openId\":\"nested\"},\"openId\":\"oABC\"}"},
        {"{ \"url\" : \"http://x/y\" }", "{\"url\":\"http://x/y\",\"openId\":\"oABC\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t n = 0;
        char err[128];
        int rc = wxs__user_record(cases[i].raw, strlen(cases[i].raw), 64, "oABC", &out, &n, err,
                                  sizeof err);
        assert_int_equal(rc, 0);
        assert_string_equal(out, cases[i].want);
        char openid[64];
        assert_int_equal(wxs__user_openid(out, n, openid, sizeof openid), 0);
        assert_string_equal(openid, "oABC");
        wxs__free(out);
    }
}

/* Plain rawData (no jansson) must give byte for byte the record jansson gives; what is not
 * plain goes to jansson. Each case: the text, whether it is plain. */
static void user_record_plain_matches_jansson(void **state)
{
    static const struct {
        const char *raw;
        int plain;
    } cases[] = {
        {"{\"nickName\":\"Band\",\"gender\":1,\"language\":\"zh_CN\",\"city\":\"\"}", 1},
        {" {\r\n\t\"a\" : [ 1 , -2 , true , false , null , { } , [ ] ] , \"b\" : { \"c\" : 0 } } ",
         1},
        {"{}", 1},
        {"{\"u\":\"http://x/y?z=1\",\"emoji\":\"\xf0\x9f\x98\x80\",\"del\":\"\x7f\"}", 1},
        {"{\"n\":123456789012345678}", 1},
        {"{\"n\":1234567890123456789}", 0}, /* 19 digits: jansson's range check */
        {"{\"n\":-0}", 0},                  /* jansson writes 0 */
        {"{\"n\":1.5}", 0},
        {"{\"n\":1e3}", 0},
        {"{\"s\":\"a\\/b\"}", 0}, /* an escape: jansson writes a/b */
        {"{\"s\":\"\\u5fae\"}", 0},
        {"{\"a\":1,\"a\":2}", 0}, /* duplicate key: jansson keeps one */
        {"{\"o\":{\"k\":1,\"k\":2}}", 0},
        {"{\"openId\":\"x\",\"a\":1}", 0},
        {"{\"a\":{\"openId\":\"nested\"}}", 1},
        {"{\"a\":[[[[[[[[1]]]]]]]]}", 0}, /* deeper than the plain path goes */
        {"{\"a\":01}", 0},
        {"{\"a\":\"\xc3\x28\"}", 0}, /* invalid UTF-8 */
        {"{\"a\":tru}", 0},
        {"{\"a\":1,}", 0},
        {"{\"a\":1} 2", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *raw = cases[i].raw;
        size_t len = strlen(raw);
        if (wxs__user_plain(raw, len, 64) != cases[i].plain)
            fail_msg("case %zu (%s): plain should be %d", i, raw, cases[i].plain);
        char *fast = NULL, *slow = NULL;
        size_t fast_len = 0, slow_len = 0;
        char err[128] = "", err2[128] = "";
        int rc = wxs__user_record(raw, len, 64, "oABC-_9", &fast, &fast_len, err, sizeof err);
        json_t *obj = NULL;
        int rc2 = wxs__user_parse(raw, len, 64, &obj, err2, sizeof err2);
        if (rc2 == 0)
            rc2 = wxs__user_dump(obj, "oABC-_9", &slow, &slow_len);
        json_decref(obj);
        if (rc != rc2)
            fail_msg("case %zu (%s): record %d, jansson %d", i, raw, rc, rc2);
        if (rc == 0 && (fast_len != slow_len || memcmp(fast, slow, fast_len) != 0))
            fail_msg("case %zu: %s\nplain:   %s\njansson: %s", i, raw, fast, slow);
        if (cases[i].plain)
            assert_int_equal(rc, 0); /* plain is always valid */
        wxs__free(fast);
        wxs__free(slow);
    }
    /* an openId that would need escaping is written by jansson, plain rawData or not */
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(wxs__user_plain_record("{}", 2, "a\"b", &out, &n), 0);
    assert_null(out);
}

static void user_record_rejects(void **state)
{
    static const char *bad[] = {"[1,2]", "\"str\"", "12", "null", "{\"a\":", "{\"a\":1} x", "",
                                "{\"a\":[[[[[[1]]]]]]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        size_t n;
        char err[128] = "";
        int rc = wxs__user_record(bad[i], strlen(bad[i]), 4, "o", &out, &n, err, sizeof err);
        if (rc != WXS_EPARSE)
            fail_msg("'%s' gave %d", bad[i], rc);
        assert_null(out);
        assert_true(err[0] != '\0');
    }
}

static void openid_scan_not_fooled(void **state)
{
    char openid[16];
    assert_int_equal(wxs__user_openid("\"x\"", 3, openid, sizeof openid), WXS_ENOTFOUND);
    /* longer than cap */
    const char *rec = "{\"openId\":\"0123456789abcdefXYZ\"}";
    assert_int_equal(wxs__user_openid(rec, strlen(rec), openid, sizeof openid), WXS_EPARSE);
}

static void error_bodies_exact(void **state)
{
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    assert_int_equal(wxs__error_body_expired(&b), 0);
    assert_string_equal(b.data, "{\"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A\":1,\"reason\":\"ERR_SESSION_"
                                "EXPIRED\",\"error\":{\"name\":\"Error\",\"message\":\"`wxUserInfo` "
                                "not found by `code`\"}}");
    wxs__buf_reset(&b);
    assert_int_equal(wxs__error_body_exchange(&b, 40029, "invalid code", NULL), 0);
    assert_string_equal(b.data,
                        "{\"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A\":1,\"reason\":\"ERR_SESSION_KEY_"
                        "EXCHANGE_FAILED\",\"error\":{\"name\":\"Error\",\"message\":\"jscode failed "
                        "to exchange session_key\",\"detail\":{\"errcode\":40029,\"errmsg\":"
                        "\"invalid code\"}}}");
    wxs__buf_reset(&b);
    assert_int_equal(wxs__error_body_untrusted(&b), 0);
    assert_string_equal(b.data, "{\"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A\":1,\"reason\":\"ERR_"
                                "UNTRUSTED_RAW_DATA\",\"error\":{\"name\":\"Error\",\"message\":"
                                "\"untrusted raw data\"}}");
    wxs__buf_reset(&b);
    assert_int_equal(wxs__error_body(&b, NULL, "SyntaxError", "bad \"json\"", NULL), 0);
    assert_string_equal(b.data, "{\"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A\":1,\"error\":{\"name\":"
                                "\"SyntaxError\",\"message\":\"bad \\\"json\\\"\"}}");
    wxs__buf_reset(&b);
    assert_int_equal(wxs__error_body_exchange(&b, 0, NULL, "timeout"), 0);
    assert_non_null(strstr(b.data, "\"detail\":{\"reason\":\"timeout\"}}}"));
    wxs__buf_free(&b);
}

/* The errmsg part of an exchange error body: what follows "errmsg":" up to the closing quote. */
static size_t errmsg_in_body(const wxs__buf *b, const char **start)
{
    const char *p = strstr(b->data, "\"errmsg\":\"");
    assert_non_null(p);
    *start = p + strlen("\"errmsg\":\"");
    const char *end = strstr(*start, "\"}}}");
    assert_non_null(end);
    return (size_t)(end - *start);
}

/* WeChat's errmsg is kept up to 1024 bytes, cut on a character boundary and before any
 * ill-formed sequence: the body stays valid UTF-8. */
static void error_body_errmsg_cut_on_utf8_boundary(void **state)
{
    static const struct {
        size_t ascii;     /* 'a' bytes first */
        const char *then; /* then these bytes */
        size_t kept;      /* bytes of errmsg in the body */
    } cases[] = {
        {1022, "\xc3\xa9tail", 1024},         /* 2-byte character ends at the limit */
        {1023, "\xc3\xa9tail", 1023},         /* 2-byte character straddles it */
        {1022, "\xe4\xb8\xadtail", 1022},     /* 3-byte character straddles it */
        {1021, "\xf0\x9f\x98\x80tail", 1021}, /* 4-byte character straddles it */
        {1020, "\xf0\x9f\x98\x80tail", 1024}, /* 4-byte character ends at the limit */
        {10, "\xe4\xb8\xad", 13},             /* short: all of it */
        {10, "\xffzz", 10},                   /* ill-formed byte: cut before it */
        {10, "\xe4\xb8zz", 10},               /* truncated sequence: cut before it */
        {10, "\xed\xa0\x80zz", 10},           /* a surrogate: cut before it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[2048];
        memset(msg, 'a', cases[i].ascii);
        snprintf(msg + cases[i].ascii, sizeof msg - cases[i].ascii, "%s", cases[i].then);
        wxs__buf b;
        wxs__buf_init(&b, 8192);
        assert_int_equal(wxs__error_body_exchange(&b, 40029, msg, NULL), 0);
        const char *kept;
        size_t n = errmsg_in_body(&b, &kept);
        assert_int_equal(n, cases[i].kept);
        assert_memory_equal(kept, msg, n);
        assert_true(wxs__utf8_valid((const unsigned char *)b.data, b.len));
        wxs__buf_free(&b);
    }
}

static void buf_limit(void **state)
{
    wxs__buf b;
    wxs__buf_init(&b, 5);
    assert_int_equal(wxs__buf_adds(&b, "abc"), 0);
    assert_int_equal(wxs__buf_adds(&b, "def"), WXS_ETOOBIG);
    assert_string_equal(b.data, "abc");
    assert_int_equal(wxs__buf_adds(&b, "de"), 0);
    assert_string_equal(b.data, "abcde");
    wxs__buf_reset(&b);
    assert_int_equal(wxs__buf_add_json_escaped(&b, "\x01\"", 2), WXS_ETOOBIG);
    wxs__buf_free(&b);
    assert_string_equal(wxs_strerror(WXS_ESTORE), "store unavailable");
    assert_string_equal(wxs_err_name(WXS_ETIMEDOUT), "WXS_ETIMEDOUT");
    assert_string_equal(wxs_strerror(-999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_official_vector),
        cmocka_unit_test(signature_rejects),
        cmocka_unit_test(percent_decode_table),
        cmocka_unit_test(percent_decode_limit),
        cmocka_unit_test(json_depth),
        cmocka_unit_test(user_record_appends_openid_last),
        cmocka_unit_test(user_record_plain_matches_jansson),
        cmocka_unit_test(user_record_rejects),
        cmocka_unit_test(openid_scan_not_fooled),
        cmocka_unit_test(error_bodies_exact),
        cmocka_unit_test(error_body_errmsg_cut_on_utf8_boundary),
        cmocka_unit_test(buf_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
