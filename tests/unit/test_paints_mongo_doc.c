/* test_paints_mongo_doc.c: the MongoDB drawing store's parts that need no server
 * (src/onestroke/store_mongo_doc.c): the connection URI and its redaction, the documents of a
 * drawing and of the queries (read whole, as from a server that ignores projections), the classes
 * of libmongoc errors, and the reply counts and steps of a save. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "paints_test_config.h"

#include "store_mongo.h"

#include <mongoc/mongoc.h>

#define T0 1700000000000LL /* a fixed time in ms */

static void config_init(test_cfg *cfg)
{
    test_cfg_init(cfg, "mongodb");
}

typedef struct uri_case {
    const char *uri, *user, *pass, *host;
    long long port;
    const char *query, *db;
    const char *want, *want_redacted;
} uri_case;

static void test_mongo_uri(void **state)
{
    static const uri_case cases[] = {
        {"", "", "", "127.0.0.1", 27017, "", "weapp", "mongodb://127.0.0.1:27017/weapp",
         "mongodb://127.0.0.1:27017/weapp"},
        {"", "admin", "p@ss:w/rd%", "db.local", 27018, "", "weapp",
         "mongodb://admin:p%40ss%3Aw%2Frd%25@db.local:27018/weapp",
         "mongodb://admin:***@db.local:27018/weapp"},
        {"", "us@r:/%", "", "h", 1, "", "d", "mongodb://us%40r%3A%2F%25@h:1/d",
         "mongodb://us%40r%3A%2F%25@h:1/d"},
        {"", "u", "~ok-._", "h", 2, "authSource=admin&replicaSet=rs0", "d",
         "mongodb://u:~ok-._@h:2/d?authSource=admin&replicaSet=rs0",
         "mongodb://u:***@h:2/d?authSource=admin&replicaSet=rs0"},
        {"", "", "", "h", 3, "?tls=true&tlsCertificateKeyFilePassword=s3cret", "d",
         "mongodb://h:3/d?tls=true&tlsCertificateKeyFilePassword=s3cret",
         "mongodb://h:3/d?tls=true&tlsCertificateKeyFilePassword=***"},
        {"", "", "", "::1", 27017, "", "weapp", "mongodb://[::1]:27017/weapp",
         "mongodb://[::1]:27017/weapp"},
        {"", "u", "pw", "h", 0, "", "", "mongodb://u:pw@h:27017/", "mongodb://u:***@h:27017/"},
        {"mongodb://root:t0p%40secret@a:1,b:2/app?authSource=admin", "ignored", "ignored", "x", 9,
         "", "weapp", "mongodb://root:t0p%40secret@a:1,b:2/app?authSource=admin",
         "mongodb://root:***@a:1,b:2/app?authSource=admin"},
        {"mongodb+srv://only-user@cluster.example/x", "", "", "", 0, "", "",
         "mongodb+srv://only-user@cluster.example/x", "mongodb+srv://only-user@cluster.example/x"},
        {"not a uri with secret", "", "", "", 0, "", "", "not a uri with secret", "***"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uri_case *c = &cases[i];
        test_cfg cfg;
        config_init(&cfg);
        cfg.o.mongo_uri = (char *)c->uri;
        cfg.o.mongo_username = (char *)c->user;
        cfg.o.mongo_password = (char *)c->pass;
        cfg.o.mongo_host = (char *)c->host;
        cfg.o.mongo_port = c->port;
        cfg.o.mongo_query = (char *)c->query;
        cfg.o.mongo_database = (char *)c->db;
        char *uri = NULL, *red = NULL;
        assert_int_equal(os_mongo_uri(&cfg.o, &uri), 0);
        assert_int_equal(os_mongo_uri_redacted(&cfg.o, &red), 0);
        assert_string_equal(uri, c->want);
        assert_string_equal(red, c->want_redacted);
        if (c->pass[0] != '\0' && c->uri[0] == '\0')
            assert_null(strstr(red, c->pass));
        if (c->uri[0] == '\0') { /* libmongoc reads back what was encoded */
            bson_error_t err;
            mongoc_uri_t *m = mongoc_uri_new_with_error(uri, &err);
            if (m == NULL)
                fail_msg("case %zu: libmongoc refused %s: %s", i, c->want_redacted, err.message);
            if (c->user[0] != '\0')
                assert_string_equal(mongoc_uri_get_username(m), c->user);
            if (c->pass[0] != '\0')
                assert_string_equal(mongoc_uri_get_password(m), c->pass);
            mongoc_uri_destroy(m);
        }
        wxs__free(uri);
        wxs__free(red);
    }
    /* no host, and a URI past the limit */
    test_cfg cfg;
    char *out = NULL;
    config_init(&cfg);
    cfg.o.mongo_host = "";
    assert_int_equal(os_mongo_uri(&cfg.o, &out), WXS_EINVAL);
    assert_null(out);
    char *huge = malloc(OS_MONGO_URI_MAX + 10);
    assert_non_null(huge);
    memset(huge, 'h', OS_MONGO_URI_MAX + 9);
    huge[OS_MONGO_URI_MAX + 9] = '\0';
    config_init(&cfg);
    cfg.o.mongo_host = huge;
    assert_int_equal(os_mongo_uri(&cfg.o, &out), WXS_ETOOBIG);
    free(huge);
}

static void test_mongo_document_mapping(void **state)
{
    os_paint in = {.id = "draw-1_X",
                   .actions = "[\"一笔\",{\"a\":1}]",
                   .created_at_ms = T0,
                   .updated_at_ms = T0 + 5};
    in.actions_len = strlen(in.actions);
    bson_t doc = BSON_INITIALIZER;
    assert_int_equal(os_mongo_paint_to_bson(&doc, "oUser", &in), 0);
    char *json = bson_as_canonical_extended_json(&doc, NULL);
    assert_string_equal(json, "{ \"openId\" : \"oUser\", \"id\" : \"draw-1_X\", \"actions\" : "
                              "\"[\\\"一笔\\\",{\\\"a\\\":1}]\", \"createdAt\" : { \"$date\" : { "
                              "\"$numberLong\" : \"1700000000000\" } }, \"updatedAt\" : { "
                              "\"$date\" : { \"$numberLong\" : \"1700000000005\" } } }");
    bson_free(json);
    os_paint out;
    assert_int_equal(os_mongo_paint_from_bson(&doc, &out), 0);
    assert_string_equal(out.id, in.id);
    assert_int_equal(out.actions_len, in.actions_len);
    assert_memory_equal(out.actions, in.actions, in.actions_len);
    assert_int_equal(out.created_at_ms, T0);
    assert_int_equal(out.updated_at_ms, T0 + 5);
    bson_destroy(&doc);

    /* malformed documents: each is refused; updatedAt missing defaults to createdAt */
    static const char *const bad[] = {
        "{\"actions\":\"[]\",\"createdAt\":{\"$date\":1}}",
        "{\"id\":\"a b\",\"actions\":\"[]\",\"createdAt\":{\"$date\":1}}",
        "{\"id\":5,\"actions\":\"[]\",\"createdAt\":{\"$date\":1}}",
        "{\"id\":\"a\",\"actions\":[1,2],\"createdAt\":{\"$date\":1}}",
        "{\"id\":\"a\",\"actions\":\"[]\",\"createdAt\":17}",
        "{\"id\":\"a\",\"actions\":\"[]\"}",
    };
    bson_error_t err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bson_t *b = bson_new_from_json((const uint8_t *)bad[i], -1, &err);
        assert_non_null(b);
        assert_int_equal(os_mongo_paint_from_bson(b, &out), WXS_EPARSE);
        bson_destroy(b);
    }
    /* a whole document, as a server that ignores the projection sends it: other fields
     * (_id, openId, unknown ones, one named like a wanted one but in another case) in any
     * order are ignored */
    bson_t *whole = bson_new_from_json(
        (const uint8_t *)"{\"_id\":{\"$oid\":\"65a1b2c3d4e5f60718293a4b\"},"
                         "\"updatedAt\":{\"$date\":9},\"ID\":\"not-this\",\"openId\":\"oU\","
                         "\"extra\":{\"id\":\"nested\",\"actions\":1},\"actions\":\"[7]\","
                         "\"Actions\":5,\"createdAt\":{\"$date\":8},\"id\":\"w1\",\"zz\":[1]}",
        -1, &err);
    assert_non_null(whole);
    assert_int_equal(os_mongo_paint_from_bson(whole, &out), 0);
    assert_string_equal(out.id, "w1");
    assert_int_equal(out.actions_len, 3);
    assert_memory_equal(out.actions, "[7]", 3);
    assert_int_equal(out.created_at_ms, 8);
    assert_int_equal(out.updated_at_ms, 9);
    bson_destroy(whole);
    bson_t *ok = bson_new_from_json((const uint8_t *)"{\"id\":\"a\",\"actions\":\"\","
                                                     "\"createdAt\":{\"$date\":7}}",
                                    -1, &err);
    assert_int_equal(os_mongo_paint_from_bson(ok, &out), 0);
    assert_int_equal(out.updated_at_ms, 7);
    assert_int_equal(out.actions_len, 0);
    bson_destroy(ok);
}

static void assert_bson_json(const bson_t *b, const char *want)
{
    char *json = bson_as_relaxed_extended_json(b, NULL);
    assert_string_equal(json, want);
    bson_free(json);
}

static void test_mongo_query_documents(void **state)
{
    bson_t b = BSON_INITIALIZER;
    assert_int_equal(os_mongo_key_filter(&b, "o1", "d1"), 0);
    assert_bson_json(&b, "{ \"openId\" : \"o1\", \"id\" : \"d1\" }");
    bson_reinit(&b);
    assert_int_equal(os_mongo_save_update(&b, "[1]", 3, 1000), 0);
    assert_bson_json(&b, "{ \"$set\" : { \"actions\" : \"[1]\", \"updatedAt\" : { \"$date\" : "
                         "\"1970-01-01T00:00:01Z\" } }, \"$setOnInsert\" : { \"createdAt\" : "
                         "{ \"$date\" : \"1970-01-01T00:00:01Z\" } } }");
    bson_reinit(&b);
    assert_int_equal(os_mongo_list_filter(&b, "o1", NULL), 0);
    assert_bson_json(&b, "{ \"openId\" : \"o1\" }");
    bson_reinit(&b);
    os_paint_cursor c = {.created_at_ms = 2000, .id = "k9"};
    assert_int_equal(os_mongo_list_filter(&b, "o1", &c), 0);
    assert_bson_json(&b, "{ \"openId\" : \"o1\", \"createdAt\" : { \"$lte\" : { \"$date\" : "
                         "\"1970-01-01T00:00:02Z\" } }, \"$or\" : [ { \"createdAt\" : { \"$lt\" "
                         ": { \"$date\" : \"1970-01-01T00:00:02Z\" } } }, { \"id\" : { \"$lt\" : "
                         "\"k9\" } } ] }");
    bson_reinit(&b);
    assert_int_equal(os_mongo_list_opts(&b, 20), 0);
    assert_bson_json(&b, "{ \"sort\" : { \"createdAt\" : -1, \"id\" : -1 }, \"limit\" : 21, "
                         "\"projection\" : { \"_id\" : 0, \"id\" : 1, \"actions\" : 1, "
                         "\"createdAt\" : 1, \"updatedAt\" : 1 } }");
    bson_destroy(&b);
}

static void test_mongo_error_mapping(void **state)
{
    static const struct {
        uint32_t domain, code;
        os_mongo_error_class want;
    } cases[] = {
        {0, 0, OS_MONGO_OK},
        {MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
         OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_NAME_RESOLUTION, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, OS_MONGO_AUTH},
        {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_TOO_BIG, OS_MONGO_FAILED},
        {MONGOC_ERROR_SASL, 1, OS_MONGO_AUTH},
        {MONGOC_ERROR_SCRAM, MONGOC_ERROR_SCRAM_PROTOCOL_ERROR, OS_MONGO_AUTH},
        {MONGOC_ERROR_SERVER, 11000, OS_MONGO_DUPLICATE_KEY},
        {MONGOC_ERROR_COLLECTION, 11000, OS_MONGO_DUPLICATE_KEY},
        {MONGOC_ERROR_COMMAND, 11001, OS_MONGO_DUPLICATE_KEY},
        {MONGOC_ERROR_SERVER, 50, OS_MONGO_TIMEOUT},
        {MONGOC_ERROR_SERVER, 18, OS_MONGO_AUTH},
        {MONGOC_ERROR_SERVER, 13, OS_MONGO_AUTH},
        {MONGOC_ERROR_SERVER, 91, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_SERVER, 10107, OS_MONGO_UNREACHABLE},
        {MONGOC_ERROR_WRITE_CONCERN, 64, OS_MONGO_FAILED},
        {MONGOC_ERROR_SERVER, 2, OS_MONGO_FAILED},
        {MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, OS_MONGO_FAILED},
        {MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_BAD_WIRE_VERSION, OS_MONGO_FAILED},
        {0, 5, OS_MONGO_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_mongo_error_class got = os_mongo_error_classify(cases[i].domain, cases[i].code);
        if (got != cases[i].want)
            fail_msg("case %zu (domain %u code %u): %s, want %s", i, cases[i].domain, cases[i].code,
                     os_mongo_error_class_name(got), os_mongo_error_class_name(cases[i].want));
        assert_int_equal(os_mongo_error_status(cases[i].domain, cases[i].code),
                         cases[i].want == OS_MONGO_OK ? 0 : WXS_ESTORE);
    }
    assert_string_equal(os_mongo_error_class_name((os_mongo_error_class)99), "failed");
}

/* The count a reply carries, whatever number type the server chose. */
static void test_mongo_reply_count(void **state)
{
    static const struct {
        const char *json;
        int64_t want;
    } cases[] = {
        {"{\"matchedCount\":{\"$numberInt\":\"1\"}}", 1},
        {"{\"matchedCount\":{\"$numberLong\":\"5000000000\"}}", 5000000000LL},
        {"{\"matchedCount\":{\"$numberDouble\":\"2.0\"}}", 2},
        {"{\"matchedCount\":\"1\"}", 0},
        {"{\"matchedCount\":null}", 0},
        {"{\"n\":1}", 0},
        {"{}", 0},
    };
    bson_error_t err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bson_t *b = bson_new_from_json((const uint8_t *)cases[i].json, -1, &err);
        assert_non_null(b);
        if (os_mongo_reply_count(b, "matchedCount") != cases[i].want)
            fail_msg("case %zu (%s): %lld", i, cases[i].json,
                     (long long)os_mongo_reply_count(b, "matchedCount"));
        bson_destroy(b);
    }
    assert_int_equal(os_mongo_reply_count(NULL, "matchedCount"), 0);
}

/* A save's steps: each outcome of each step and where it leads. */
static void test_mongo_save_steps(void **state)
{
    enum { UPDATE = OS_MONGO_SAVE_UPDATE, COUNT = OS_MONGO_SAVE_COUNT };
    enum { UPSERT = OS_MONGO_SAVE_UPSERT, RETRY = OS_MONGO_SAVE_RETRY };
    enum { DONE = OS_MONGO_SAVE_DONE, FULL = OS_MONGO_SAVE_FULL, FAILED = OS_MONGO_SAVE_FAILED };
    static const struct {
        int step, ok;
        uint32_t domain, code;
        int64_t n;
        int want;
    } cases[] = {
        /* update: an existing drawing is done; none: count; an error fails */
        {UPDATE, 1, 0, 0, 1, DONE},
        {UPDATE, 1, 0, 0, 0, COUNT},
        {UPDATE, 0, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, 0, FAILED},
        {UPDATE, 0, MONGOC_ERROR_SERVER, 11000, 0, FAILED}, /* no upsert: not a race */
        /* count (limit 3): under the limit upserts, at it is full */
        {COUNT, 1, 0, 0, 2, UPSERT},
        {COUNT, 1, 0, 0, 3, FULL},
        {COUNT, 1, 0, 0, 4, FULL},
        {COUNT, 0, MONGOC_ERROR_SERVER_SELECTION, 13053, -1, FAILED},
        /* upsert: done; a duplicate key (any domain that carries server codes) retries */
        {UPSERT, 1, 0, 0, 1, DONE},
        {UPSERT, 1, 0, 0, 0, DONE},
        {UPSERT, 0, MONGOC_ERROR_SERVER, 11000, 0, RETRY},
        {UPSERT, 0, MONGOC_ERROR_COLLECTION, 11000, 0, RETRY},
        {UPSERT, 0, MONGOC_ERROR_COMMAND, 11001, 0, RETRY},
        {UPSERT, 0, MONGOC_ERROR_SERVER, 10107, 0, FAILED}, /* not primary */
        {UPSERT, 0, MONGOC_ERROR_WRITE_CONCERN, 64, 0, FAILED},
        {UPSERT, 0, MONGOC_ERROR_STREAM, 11000, 0, FAILED}, /* not a server code */
        /* retry: it matched the drawing; or nothing is stored: fail, never acknowledge */
        {RETRY, 1, 0, 0, 1, DONE},
        {RETRY, 1, 0, 0, 0, FAILED},
        {RETRY, 0, MONGOC_ERROR_SERVER, 11000, 0, FAILED},
        /* final steps stay */
        {DONE, 1, 0, 0, 0, DONE},
        {FULL, 0, 0, 0, 0, FULL},
        {FAILED, 1, 0, 0, 1, FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_mongo_save_step got = os_mongo_save_next((os_mongo_save_step)cases[i].step, cases[i].ok,
                                                    cases[i].domain, cases[i].code, cases[i].n, 3);
        if ((int)got != cases[i].want)
            fail_msg("case %zu: %s -> %s, want %s", i,
                     os_mongo_save_step_name((os_mongo_save_step)cases[i].step),
                     os_mongo_save_step_name(got),
                     os_mongo_save_step_name((os_mongo_save_step)cases[i].want));
        if (got != OS_MONGO_SAVE_DONE && got != OS_MONGO_SAVE_FULL && got != OS_MONGO_SAVE_FAILED)
            assert_true((int)got > cases[i].step); /* every step leads forward */
    }
    assert_string_equal(os_mongo_save_step_name(OS_MONGO_SAVE_RETRY), "retry");
    assert_string_equal(os_mongo_save_step_name((os_mongo_save_step)42), "failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mongo_uri),
        cmocka_unit_test(test_mongo_document_mapping),
        cmocka_unit_test(test_mongo_query_documents),
        cmocka_unit_test(test_mongo_error_mapping),
        cmocka_unit_test(test_mongo_reply_count),
        cmocka_unit_test(test_mongo_save_steps),
    };
    return cmocka_run_group_tests_name("paints_mongo_doc", tests, NULL, NULL);
}
