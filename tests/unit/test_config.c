/* test_config.c: unit tests of lib/config.c and lib/config_print.c: defaults, config file,
 * environment, flags, validation, dump, --help and docs, secrets kept out of output, and
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "options.h"
#include "server_options.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ fixtures */

/* A counting allocator that can fail the n-th allocation: every test must end with as many
 * live allocations as it started with. */
static long live_allocs;
static long alloc_calls;
static long fail_at = -1;

static int should_fail(void)
{
    return alloc_calls++ == fail_at;
}

static void *count_malloc(size_t n)
{
    void *p = should_fail() ? NULL : malloc(n);
    live_allocs += p != NULL;
    return p;
}

static void *count_calloc(size_t count, size_t n)
{
    void *p = should_fail() ? NULL : calloc(count, n);
    live_allocs += p != NULL;
    return p;
}

static void *count_realloc(void *ptr, size_t n)
{
    if (ptr == NULL)
        return count_malloc(n);
    return should_fail() ? NULL : realloc(ptr, n);
}

static void count_free(void *p)
{
    live_allocs -= p != NULL;
    free(p);
}

#define MAX_TEMP_FILES 8
static char temp_files[MAX_TEMP_FILES][64];
static int n_temp_files;
static long live_at_start;

/* Remove every WXS_* variable so the caller's environment cannot leak into a test. */
static void clear_wxs_env(void)
{
    char name[256];
    int again = 1;
    while (again) {
        again = 0;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "WXS_", 4) != 0)
                continue;
            size_t n = strcspn(*e, "=");
            snprintf(name, sizeof name, "%.*s", (int)n, *e);
            unsetenv(name);
            again = 1; /* environ changed under us: start over */
            break;
        }
    }
}

static int setup(void **state)
{
    clear_wxs_env();
    fail_at = -1;
    live_at_start = live_allocs;
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < n_temp_files; i++)
        unlink(temp_files[i]);
    n_temp_files = 0;
    clear_wxs_env();
    assert_int_equal(live_allocs, live_at_start); /* nothing leaked */
    return 0;
}

/* Write len bytes to a new temporary file, removed at teardown; returns its path. */
static const char *temp_file_n(const char *text, size_t len)
{
    assert_true(n_temp_files < MAX_TEMP_FILES);
    char *path = temp_files[n_temp_files++];
    snprintf(path, 64, "/tmp/wxs-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static const char *temp_file(const char *text)
{
    return temp_file_n(text, strlen(text));
}

/* Where the server's and the One Stroke app's tables put their values: every test config has the
 * three tables wxsessiond registers. */
static server_options srv;
static struct onestroke_options app;

static wxs_config *config_new_with(server_options *s, struct onestroke_options *o)
{
    wxs_config *cfg = wxs_config_new();
    if (cfg == NULL)
        return NULL;
    if (wxs_config_register(cfg, &server_option_table, s) < 0 ||
        wxs_config_register(cfg, &onestroke_option_table, o) < 0) {
        wxs_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* A test config whose server and app values land in srv and app (one such config at a time). */
static wxs_config *config_new_all(void)
{
    return config_new_with(&srv, &app);
}

/* Capture what fn writes to a FILE. The caller frees the result with free(). */
static char *capture(void (*fn)(FILE *, void *), void *arg)
{
    static char *text; /* static: open_memstream keeps their addresses until fclose */
    static size_t len;
    text = NULL;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fn(f, arg);
    fclose(f);
    return text;
}

static void dump_to(FILE *f, void *cfg)
{
    assert_int_equal(wxs_config_dump(cfg, f), 0);
}

static void help_to(FILE *f, void *cfg)
{
    wxs_config_print_help(cfg, f);
}

static void markdown_to(FILE *f, void *cfg)
{
    wxs_config_print_markdown(cfg, f);
}

/* Expect rc and an error message containing want. */
static void expect_error(int rc, int want_rc, const char *err, const char *want)
{
    if (rc != want_rc || strstr(err, want) == NULL)
        fail_msg("got rc %d '%s', want rc %d with '%s'", rc, err, want_rc, want);
}

/* ------------------------------------------------------------------ defaults, get */

static void test_defaults(void **state)
{
    static const struct {
        const char *name;
        const char *str; /* NULL: an integer option */
        long long num;
    } cases[] = {
        {"port", NULL, 5757},
        {"listen", "127.0.0.1", 0},
        {"routeBasePath", "/applet", 0},
        {"appId", "", 0},
        {"appSecret", "", 0},
        {"workers", NULL, 0},
        {"store", "sqlite", 0},
        {"sqlite.path", "wxsession.db", 0},
        {"redis.host", "127.0.0.1", 0},
        {"redis.port", NULL, 6379},
        {"redis.password", "", 0},
        {"redis.db", NULL, 0},
        {"redis.timeoutMs", NULL, 1000},
        {"redis.ttl", NULL, 7200},
        {"redis.prefix", "weapp-session:", 0},
        {"mongo.uri", "", 0},
        {"mongo.host", "127.0.0.1", 0},
        {"mongo.port", NULL, 27017},
        {"mongo.database", "weapp", 0},
        {"wechat.apiBase", "https://api.weixin.qq.com", 0},
        {"wechat.timeoutMs", NULL, 3000},
        {"wechat.connectTimeoutMs", NULL, 3000},
        {"wechat.maxReplyBytes", NULL, 65536},
        {"limits.headerBytes", NULL, 16384},
        {"limits.rawDataBytes", NULL, 8192},
        {"limits.bodyBytes", NULL, 1048576},
        {"limits.jsonDepth", NULL, 64},
        {"limits.connections", NULL, 10000},
        {"limits.codeBytes", NULL, 256},
        {"timeouts.headerMs", NULL, 10000},
        {"timeouts.idleMs", NULL, 60000},
        {"timeouts.shutdownMs", NULL, 10000},
        {"simulator.enabled", NULL, 0},
        {"simulator.latencyMs", NULL, 0},
        {"simulator.quotaPerMinute", NULL, 100},
        {"log.level", "info", 0},
        {"log.format", "text", 0},
    };
    wxs_config *cfg = config_new_all();
    assert_non_null(cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].str != NULL) {
            assert_string_equal(wxs_config_get_str(cfg, cases[i].name), cases[i].str);
            assert_int_equal(wxs_config_get_int(cfg, cases[i].name), 0);
        } else {
            assert_int_equal(wxs_config_get_int(cfg, cases[i].name), cases[i].num);
            assert_null(wxs_config_get_str(cfg, cases[i].name));
        }
    }
    /* the typed struct holds the same values; strings are never NULL */
    assert_int_equal(srv.port, 5757);
    assert_string_equal(cfg->session_prefix, "weapp-session:");
    assert_int_equal(cfg->session_ttl, 7200);
    assert_string_equal(app.mongo_username, "");
    assert_string_equal(app.mongo_query, "");
    /* getters also take flag names; unknown names give NULL / 0 */
    assert_int_equal(wxs_config_get_int(cfg, "redis-port"), 6379);
    assert_null(wxs_config_get_str(cfg, "redis.prot"));
    assert_int_equal(wxs_config_get_int(cfg, "redis.prot"), 0);
    wxs_config_free(cfg);
    wxs_config_free(NULL);
}

/* ------------------------------------------------------------------ config file */

static void test_file_nested(void **state)
{
    const char *path = temp_file(
        "{\"port\": 8080, \"listen\": \"::1\", \"routeBasePath\": \"/api/v1\",\n"
        " \"appId\": \"wx1234\", \"appSecret\": \"sec\", \"workers\": 2, \"store\": \"redis\",\n"
        " \"sqlite\": {\"path\": \"/var/lib/wxs.db\"},\n"
        " \"redis\": {\"host\": \"10.0.0.2\", \"port\": 6380, \"password\": \"pw\", \"db\": 3,\n"
        "           \"ttl\": 60, \"prefix\": \"p:\", \"timeoutMs\": 250},\n"
        " \"mongo\": {\"host\": \"m\", \"port\": 27018, \"database\": \"d\", \"query\": \"a=b\"},\n"
        " \"wechat\": {\"apiBase\": \"http://127.0.0.1:9999\", \"timeoutMs\": 500},\n"
        " \"limits\": {\"headerBytes\": 2048, \"jsonDepth\": 8},\n"
        " \"timeouts\": {\"idleMs\": 1000, \"shutdownMs\": 0},\n"
        " \"simulator\": {\"enabled\": true, \"latencyMs\": 5},\n"
        " \"log\": {\"level\": \"debug\", \"format\": \"json\"}}\n");
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    assert_int_equal(wxs_config_load_file(cfg, path, err, sizeof err), 0);
    assert_int_equal(srv.port, 8080);
    assert_string_equal(srv.listen, "::1");
    assert_string_equal(srv.route_base, "/api/v1");
    assert_string_equal(cfg->app_id, "wx1234");
    assert_string_equal(cfg->app_secret, "sec");
    assert_int_equal(srv.workers, 2);
    assert_string_equal(cfg->store, "redis");
    assert_string_equal(cfg->sqlite_path, "/var/lib/wxs.db");
    assert_string_equal(cfg->redis_host, "10.0.0.2");
    assert_int_equal(cfg->redis_port, 6380);
    assert_string_equal(cfg->redis_password, "pw");
    assert_int_equal(cfg->redis_db, 3);
    assert_int_equal(cfg->session_ttl, 60);
    assert_string_equal(cfg->session_prefix, "p:");
    assert_int_equal(cfg->redis_timeout_ms, 250);
    assert_string_equal(app.mongo_host, "m");
    assert_int_equal(app.mongo_port, 27018);
    assert_string_equal(cfg->wechat_api_base, "http://127.0.0.1:9999");
    assert_int_equal(cfg->wechat_timeout_ms, 500);
    assert_int_equal(cfg->wechat_connect_timeout_ms, 3000); /* untouched */
    assert_int_equal(srv.header_bytes, 2048);
    assert_int_equal(cfg->limit_json_depth, 8);
    assert_int_equal(srv.shutdown_timeout_ms, 0);
    assert_int_equal(srv.simulator, 1);
    assert_int_equal(srv.sim_latency_ms, 5);
    assert_string_equal(srv.log_level, "debug");
    assert_string_equal(srv.log_format, "json");
    wxs_config_free(cfg);
}

static void test_file_errors(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *reason;
    } cases[] = {
        {"{\"redis\": {\"prot\": 1}}", WXS_ECONFIG, "unknown option 'redis.prot'"},
        {"{\"prot\": 1}", WXS_ECONFIG, "unknown option 'prot'"},
        {"{\"redis-port\": 1}", WXS_ECONFIG, "unknown option 'redis-port'"},
        {"{\"nosuch\": {\"port\": 1}}", WXS_ECONFIG, "unknown option 'nosuch'"},
        {"{\"redis\": 5}", WXS_ECONFIG, "option 'redis': expected an object, got integer"},
        {"{\"redis\": {\"port\": \"6379\"}}", WXS_ECONFIG,
         "option 'redis.port': expected an integer, got string"},
        {"{\"port\": 1.5}", WXS_ECONFIG, "option 'port': expected an integer, got real"},
        {"{\"port\": {}}", WXS_ECONFIG, "option 'port': expected an integer, got object"},
        {"{\"simulator\": {\"enabled\": 1}}", WXS_ECONFIG,
         "option 'simulator.enabled': expected a boolean, got integer"},
        {"{\"appId\": null}", WXS_ECONFIG, "option 'appId': expected a string, got null"},
        {"{\"listen\": [\"::1\"]}", WXS_ECONFIG, "option 'listen': expected a string, got array"},
        {"{\"redis\": {\"port\": 70000}}", WXS_ECONFIG,
         "option 'redis.port': 70000 is out of range [1, 65535]"},
        {"{\"redis\": {\"port\": 0}}", WXS_ECONFIG,
         "option 'redis.port': 0 is out of range [1, 65535]"},
        {"{\"port\": -1}", WXS_ECONFIG, "option 'port': -1 is out of range [0, 65535]"},
        {"{\"limits\": {\"bodyBytes\": 67108865}}", WXS_ECONFIG,
         "67108865 is out of range [1024, 67108864]"},
        {"{\"store\": \"mongo\"}", WXS_ECONFIG,
         "option 'store': 'mongo' is not one of sqlite, redis"},
        {"{\"listen\": \"localhost\"}", WXS_ECONFIG, "option 'listen': not an IPv4 or IPv6"},
        {"{\"port\": 1, \"port\": 2}", WXS_ECONFIG, "duplicate"},
        {"[1, 2]", WXS_ECONFIG, "the top level must be a JSON object"},
        {"{\"port\": 1", WXS_ECONFIG, "line 1"},
        {"", WXS_ECONFIG, "line 1"},
        {"{\"port\": 99999999999999999999}", WXS_ECONFIG, "too big integer"},
        {"{\"appId\": \"a\\u0000b\"}", WXS_ECONFIG, "line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = temp_file(cases[i].json);
        char err[256] = "";
        wxs_config *cfg = config_new_all();
        int rc = wxs_config_load_file(cfg, path, err, sizeof err);
        expect_error(rc, cases[i].rc, err, cases[i].reason);
        assert_non_null(strstr(err, path)); /* the reason names the file */
        wxs_config_free(cfg);
        unlink(path);
        n_temp_files--;
    }
}

static void test_file_bounds_ok(void **state)
{
    const char *path = temp_file("{\"port\": 0, \"redis\": {\"port\": 65535, \"db\": 15, "
                                 "\"ttl\": 2592000}, \"limits\": {\"codeBytes\": 16}}");
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    assert_int_equal(wxs_config_load_file(cfg, path, err, sizeof err), 0);
    assert_int_equal(srv.port, 0);
    assert_int_equal(cfg->redis_port, 65535);
    assert_int_equal(cfg->redis_db, 15);
    assert_int_equal(cfg->session_ttl, 2592000);
    assert_int_equal(cfg->limit_code_bytes, 16);
    wxs_config_free(cfg);
}

/* A failed load leaves the config as it was; missing and oversized files are errors. */
static void test_file_atomic_and_io(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    const char *path = temp_file("{\"port\": 1234, \"appId\": \"x\", \"redis\": {\"prot\": 1}}");
    assert_int_equal(wxs_config_load_file(cfg, path, err, sizeof err), WXS_ECONFIG);
    assert_int_equal(srv.port, 5757);
    assert_string_equal(cfg->app_id, "");

    int rc = wxs_config_load_file(cfg, "/nonexistent/wxs.json", err, sizeof err);
    expect_error(rc, WXS_EIO, err, "/nonexistent/wxs.json");

    size_t big = (1 << 20) + 10;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    path = temp_file_n(text, big);
    free(text);
    rc = wxs_config_load_file(cfg, path, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "larger than 1048576 bytes");
    assert_int_equal(wxs_config_load_file(NULL, path, err, sizeof err), WXS_EINVAL);
    assert_int_equal(wxs_config_load_env(NULL, err, sizeof err), WXS_EINVAL);
    assert_int_equal(wxs_config_dump(NULL, stdout), WXS_EINVAL);
    wxs_config_free(cfg);
}

/* ------------------------------------------------------------------ set from text */

static void test_set_int_parsing(void **state)
{
    static const struct {
        const char *text;
        int ok;
        long long value;    /* when ok */
        const char *reason; /* when not */
    } cases[] = {
        {"6380", 1, 6380, NULL},
        {"007", 1, 7, NULL},
        {"0", 1, 0, NULL},
        {"65535", 1, 65535, NULL},
        {"65536", 0, 0, "65536 is out of range [0, 65535]"},
        {"-1", 0, 0, "-1 is out of range [0, 65535]"},
        {"", 0, 0, "'' is not an integer"},
        {" 80", 0, 0, "is not an integer"},
        {"80 ", 0, 0, "is not an integer"},
        {"80a", 0, 0, "'80a' is not an integer"},
        {"0x10", 0, 0, "is not an integer"},
        {"1e3", 0, 0, "is not an integer"},
        {"+5", 0, 0, "is not an integer"},
        {"-", 0, 0, "is not an integer"},
        {"--1", 0, 0, "is not an integer"},
        {"8.0", 0, 0, "is not an integer"},
        {"99999999999999999999", 0, 0, "is out of range [0, 65535]"},
        {"-99999999999999999999", 0, 0, "is out of range [0, 65535]"},
    };
    wxs_config *cfg = config_new_all();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        srv.port = 42;
        int rc = wxs_config_set(cfg, "port", cases[i].text, err, sizeof err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(srv.port, cases[i].value);
        } else {
            expect_error(rc, WXS_ECONFIG, err, cases[i].reason);
            assert_non_null(strstr(err, "option 'port'"));
            assert_int_equal(srv.port, 42); /* unchanged */
        }
    }
    wxs_config_free(cfg);
}

static void test_set_bool(void **state)
{
    static const struct {
        const char *text;
        int value; /* -1: rejected */
    } cases[] = {
        {"true", 1}, {"false", 0}, {"1", 1}, {"0", 0},   {"yes", 1},    {"no", 0},  {"TRUE", 1},
        {"No", 0},   {"2", -1},    {"", -1}, {"on", -1}, {"truee", -1}, {" 1", -1}, {"y", -1},
    };
    wxs_config *cfg = config_new_all();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        srv.simulator = 7;
        int rc = wxs_config_set(cfg, "simulator.enabled", cases[i].text, err, sizeof err);
        if (cases[i].value >= 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(srv.simulator, cases[i].value);
        } else {
            expect_error(rc, WXS_ECONFIG, err, "option 'simulator.enabled': ");
            assert_non_null(strstr(err, "is not a boolean"));
            assert_int_equal(srv.simulator, 7);
        }
    }
    wxs_config_free(cfg);
}

/* One table for every string rule: (option, value, accepted?). */
static void test_set_strings(void **state)
{
    static char long_prefix[69];
    static char max_prefix[65];
    static char huge[4098];
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    memset(max_prefix, 'p', sizeof max_prefix - 1);
    memset(huge, 'h', sizeof huge - 1);
    const struct {
        const char *name;
        const char *value;
        int ok;
    } cases[] = {
        {"store", "sqlite", 1},
        {"store", "redis", 1},
        {"store", "Redis", 0},
        {"store", "mongo", 0},
        {"store", "", 0},
        {"log.level", "debug", 1},
        {"log.level", "warn", 1},
        {"log.level", "error", 1},
        {"log.level", "trace", 0},
        {"log.format", "json", 1},
        {"log.format", "xml", 0},
        {"routeBasePath", "/applet", 1},
        {"routeBasePath", "/a/b", 1},
        {"routeBasePath", "/a.b_c~d-e/F9", 1},
        {"routeBasePath", "", 0},
        {"routeBasePath", "applet", 0},
        {"routeBasePath", "/", 0},
        {"routeBasePath", "/applet/", 0},
        {"routeBasePath", "//a", 0},
        {"routeBasePath", "/a b", 0},
        {"routeBasePath", "/a?x", 0},
        {"routeBasePath", "/a#x", 0},
        {"routeBasePath", "/a%20", 0},
        {"routeBasePath", "/a/../b", 0},
        {"routeBasePath", "/.", 0},
        {"routeBasePath", "/..a", 1},
        {"wechat.apiBase", "https://api.weixin.qq.com", 1},
        {"wechat.apiBase", "http://127.0.0.1:8080", 1},
        {"wechat.apiBase", "http://[::1]:9/base", 1},
        {"wechat.apiBase", "ftp://x", 0},
        {"wechat.apiBase", "api.weixin.qq.com", 0},
        {"wechat.apiBase", "https://", 0},
        {"wechat.apiBase", "http:///x", 0},
        {"wechat.apiBase", "https://x/", 0},
        {"wechat.apiBase", "https://a b", 0},
        {"wechat.apiBase", "", 0},
        {"listen", "0.0.0.0", 1},
        {"listen", "::", 1},
        {"listen", "fe80::1", 1},
        {"listen", "localhost", 0},
        {"listen", "1.2.3", 0},
        {"listen", "", 0},
        {"session.prefix", "", 1},
        {"session.prefix", max_prefix, 1},
        {"session.prefix", long_prefix, 0},
        {"session.prefix", "a b", 0},
        {"session.prefix", "a\tb", 0},
        {"session.prefix", "a\x7f", 0},
        {"sqlite.path", "", 0},
        {"sqlite.path", ":memory:", 1},
        {"redis.host", "", 0},
        {"appId", huge, 0},
        {"appId", huge + 1, 1},
        {"mongo.query", "", 1},
    };
    wxs_config *cfg = config_new_all();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        char want[128];
        int rc = wxs_config_set(cfg, cases[i].name, cases[i].value, err, sizeof err);
        if (cases[i].ok) {
            if (rc != 0)
                fail_msg("%s='%s' rejected: %s", cases[i].name, cases[i].value, err);
            assert_string_equal(wxs_config_get_str(cfg, cases[i].name), cases[i].value);
            continue;
        }
        snprintf(want, sizeof want, "option '%s': ", cases[i].name);
        expect_error(rc, WXS_ECONFIG, err, want);
        assert_string_not_equal(wxs_config_get_str(cfg, cases[i].name), cases[i].value);
    }
    wxs_config_free(cfg);
}

static void test_set_names(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    assert_int_equal(wxs_config_set(cfg, "redis.port", "6380", err, sizeof err), 0);
    assert_int_equal(cfg->redis_port, 6380);
    assert_int_equal(wxs_config_set(cfg, "redis-port", "6381", err, sizeof err), 0);
    assert_int_equal(cfg->redis_port, 6381);
    assert_int_equal(wxs_config_set(cfg, "route-base-path", "/x", err, sizeof err), 0);
    assert_string_equal(srv.route_base, "/x");
    int rc = wxs_config_set(cfg, "redis.prot", "1", err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "unknown option 'redis.prot'");
    rc = wxs_config_set(cfg, "--redis-port", "1", err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "unknown option '--redis-port'");
    assert_int_equal(wxs_config_set(cfg, NULL, "1", err, sizeof err), WXS_EINVAL);
    assert_int_equal(wxs_config_set(cfg, "port", NULL, NULL, 0), WXS_EINVAL);
    /* a NULL or empty error buffer is allowed */
    assert_int_equal(wxs_config_set(cfg, "port", "x", NULL, 0), WXS_ECONFIG);
    assert_int_equal(wxs_config_set(cfg, "port", "x", err, 0), WXS_ECONFIG);
    wxs_config_free(cfg);
}

/* ------------------------------------------------------------------ precedence */

static void test_precedence(void **state)
{
    char err[256] = "";
    const char *path = temp_file("{\"port\": 1111, \"workers\": 3, \"redis\": {\"db\": 4}}");
    setenv("WXS_PORT", "2222", 1);
    setenv("WXS_REDIS_DB", "5", 1);
    setenv("WXS_ROUTE_BASE_PATH", "/env", 1);
    setenv("WXS_SIMULATOR_ENABLED", "yes", 1);
    setenv("WXS_REDIS_TIMEOUT_MS", "20", 1);
    wxs_config *cfg = config_new_all();
    assert_int_equal(wxs_config_load_file(cfg, path, err, sizeof err), 0);
    assert_int_equal(srv.port, 1111);
    assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
    assert_int_equal(srv.port, 2222); /* env beats file */
    assert_int_equal(srv.workers, 3); /* file beats default */
    assert_int_equal(cfg->redis_db, 5);
    assert_string_equal(srv.route_base, "/env");
    assert_int_equal(srv.simulator, 1);
    assert_int_equal(cfg->redis_timeout_ms, 20);
    assert_int_equal(wxs_config_set(cfg, "port", "3333", err, sizeof err), 0);
    assert_int_equal(srv.port, 3333); /* flag beats env */
    assert_int_equal(cfg->redis_db, 5);
    wxs_config_free(cfg);
}

static void test_env_errors(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    setenv("WXS_APP_ID", "wxenv", 1);
    setenv("WXS_REDIS_PORT", "abc", 1);
    int rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err,
                 "WXS_REDIS_PORT: option 'redis.port': 'abc' is not an "
                 "integer");
    assert_string_equal(cfg->app_id, ""); /* nothing applied */
    setenv("WXS_REDIS_PORT", "", 1);
    rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "WXS_REDIS_PORT");
    unsetenv("WXS_REDIS_PORT");
    setenv("WXS_STORE", "mongodb", 1);
    rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "WXS_STORE: option 'store'");
    unsetenv("WXS_STORE");
    assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
    assert_string_equal(cfg->app_id, "wxenv");
    wxs_config_free(cfg);
}

/* ------------------------------------------------------------------ secrets */

static void test_secret_file(void **state)
{
    static const struct {
        const char *env;
        const char *contents;
        const char *want;
    } cases[] = {
        {"WXS_APP_SECRET_FILE", "s3cr3t-from-file\n", "s3cr3t-from-file"},
        {"WXS_REDIS_PASSWORD_FILE", "redis-pw\r\n", "redis-pw"},
        {"WXS_MONGO_PASSWORD_FILE", "mongo pw with spaces", "mongo pw with spaces"},
        {"WXS_MONGO_URI_FILE", "mongodb://u:p@h/db\n\n", "mongodb://u:p@h/db"},
        {"WXS_APP_SECRET_FILE", "\n", ""},
    };
    static const char *const names[] = {"appSecret", "redis.password", "mongo.password",
                                        "mongo.uri", "appSecret"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        wxs_config *cfg = config_new_all();
        setenv(cases[i].env, temp_file(cases[i].contents), 1);
        assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
        assert_string_equal(wxs_config_get_str(cfg, names[i]), cases[i].want);
        unsetenv(cases[i].env);
        wxs_config_free(cfg);
    }
}

static void test_secret_file_errors(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    setenv("WXS_APP_SECRET", "SECRET-IN-ENV", 1);
    setenv("WXS_APP_SECRET_FILE", temp_file("SECRET-IN-FILE"), 1);
    int rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "both WXS_APP_SECRET and WXS_APP_SECRET_FILE are set");
    assert_null(strstr(err, "SECRET-IN"));
    unsetenv("WXS_APP_SECRET");

    setenv("WXS_APP_SECRET_FILE", "/nonexistent/secret", 1);
    rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "WXS_APP_SECRET_FILE: /nonexistent/secret");

    char big[4097];
    memset(big, 'S', sizeof big);
    setenv("WXS_APP_SECRET_FILE", temp_file_n(big, sizeof big), 1);
    rc = wxs_config_load_env(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "larger than 4096 bytes");
    assert_null(strstr(err, "SSSS"));

    setenv("WXS_APP_SECRET_FILE", temp_file_n(big, sizeof big - 1), 1); /* exactly 4096 */
    assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
    assert_int_equal(strlen(cfg->app_secret), 4096);
    wxs_config_free(cfg);
}

/* No error path may quote a secret's value. */
static void test_errors_never_hold_secrets(void **state)
{
    static const char *const files[] = {
        "{\"appSecret\": \"TOPSECRET\\q\"}",
        "{\"appSecret\": \"TOPSECRET",
        "{\"appSecret\": \"TOPSECRET\", \"appSecret\": \"TOPSECRET\"}",
        "{\"redis\": {\"password\": \"TOPSECRET\" \"x\"}}",
        "{\"mongo\": {\"uri\": TOPSECRET}}",
        "{\"appSecret\": \"TOPSECRET\", \"unknown\": 1}",
        "{\"appSecret\": \"\\uD800\\u0054OPSECRET\"}",
        "{\"appSecret\": \"\\u0054OPSECRET\\uDC00\"}",
        "{\"appSecret\": \"TOPSECRET\x01\"}",
        "{\"appSecret\": \"TOPSECRET\xff\"}",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char err[512] = "";
        wxs_config *cfg = config_new_all();
        assert_true(wxs_config_load_file(cfg, temp_file(files[i]), err, sizeof err) < 0);
        if (strstr(err, "OPSECRET") != NULL)
            fail_msg("secret in error: %s", err);
        wxs_config_free(cfg);
        unlink(temp_files[--n_temp_files]);
    }
    char err[512] = "";
    char huge[5000];
    memset(huge, 'S', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    wxs_config *cfg = config_new_all();
    int rc = wxs_config_set(cfg, "app-secret", huge, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "option 'appSecret': value is longer than 4096 bytes");
    assert_null(strstr(err, "SSSS"));
    wxs_config_free(cfg);
}

static void test_dump_hides_secrets(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    assert_int_equal(wxs_config_set(cfg, "appSecret", "SECRET-A", err, sizeof err), 0);
    assert_int_equal(wxs_config_set(cfg, "redis.password", "SECRET-B", err, sizeof err), 0);
    assert_int_equal(wxs_config_set(cfg, "mongo.uri", "mongodb://u:SECRET-C@h", err, sizeof err),
                     0);
    assert_int_equal(wxs_config_set(cfg, "appId", "wx\"quoted\\", err, sizeof err), 0);
    char *out = capture(dump_to, cfg);
    assert_null(strstr(out, "SECRET"));

    json_error_t jerr;
    json_t *root = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        fail_msg("dump is not JSON: %s\n%s", jerr.text, out);
    assert_string_equal(json_string_value(json_object_get(root, "appSecret")), "***");
    assert_string_equal(json_string_value(json_object_get(root, "appId")), "wx\"quoted\\");
    json_t *redis = json_object_get(root, "redis");
    assert_string_equal(json_string_value(json_object_get(redis, "password")), "***");
    assert_int_equal(json_integer_value(json_object_get(redis, "port")), 6379);
    json_t *mongo = json_object_get(root, "mongo");
    assert_string_equal(json_string_value(json_object_get(mongo, "uri")), "***");
    assert_string_equal(json_string_value(json_object_get(mongo, "password")), ""); /* unset */
    assert_true(json_is_false(json_object_get(json_object_get(root, "simulator"), "enabled")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "sqlite"), "path")),
                        "wxsession.db");
    json_decref(root);
    free(out);
    wxs_config_free(cfg);
}

/* A dump (without secrets) loads back as the same configuration. */
static void test_dump_round_trip(void **state)
{
    static const char *const sets[][2] = {
        {"port", "0"},
        {"listen", "::1"},
        {"routeBasePath", "/r"},
        {"appId", "wx\xe5\xbe\xae\xe4\xbf\xa1"},
        {"store", "redis"},
        {"redis.prefix", "a\"b\\c:"}, /* the seed's key for session.prefix */
        {"simulator.enabled", "1"},
        {"log.format", "json"},
        {"limits.connections", "1000000"},
    };
    char err[256] = "";
    server_options b_srv;
    struct onestroke_options b_app;
    wxs_config *a = config_new_all();
    wxs_config *b = config_new_with(&b_srv, &b_app);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(wxs_config_set(a, sets[i][0], sets[i][1], err, sizeof err), 0);
    char *first = capture(dump_to, a);
    assert_int_equal(wxs_config_load_file(b, temp_file(first), err, sizeof err), 0);
    char *second = capture(dump_to, b);
    assert_string_equal(first, second);
    free(first);
    free(second);
    wxs_config_free(a);
    wxs_config_free(b);
}

/* The seed kept the session's TTL and prefix under "redis": those keys, flags and variables still
 * set session.ttl and session.prefix, and the dump names the new keys. */
static void test_aliases(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    assert_int_equal(
        wxs_config_load_file(cfg, temp_file("{\"redis\": {\"ttl\": 60}}"), err, sizeof err), 0);
    assert_int_equal(cfg->session_ttl, 60);
    assert_int_equal(wxs_config_set(cfg, "redis-ttl", "61", err, sizeof err), 0);
    assert_int_equal(cfg->session_ttl, 61);
    setenv("WXS_REDIS_PREFIX", "old:", 1);
    assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
    unsetenv("WXS_REDIS_PREFIX");
    assert_string_equal(cfg->session_prefix, "old:");
    setenv("WXS_SESSION_PREFIX", "new:", 1);
    assert_int_equal(wxs_config_load_env(cfg, err, sizeof err), 0);
    unsetenv("WXS_SESSION_PREFIX");
    assert_string_equal(cfg->session_prefix, "new:");
    assert_int_equal(wxs_config_set(cfg, "session.ttl", "0", err, sizeof err), WXS_ECONFIG);
    assert_non_null(strstr(err, "option 'session.ttl'"));
    char *dump = capture(dump_to, cfg);
    assert_non_null(strstr(dump, "\"session\": {\n    \"ttl\": 61,\n    \"prefix\": \"new:\""));
    free(dump);
    wxs_config_free(cfg);
}

/* ------------------------------------------------------------------ validate */

static void test_validate(void **state)
{
    char err[256] = "";
    wxs_config *cfg = config_new_all();
    int rc = wxs_config_validate(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "appId is required (or run with --dev)");
    assert_int_equal(wxs_config_set(cfg, "app-id", "wx1", err, sizeof err), 0);
    rc = wxs_config_validate(cfg, err, sizeof err);
    expect_error(rc, WXS_ECONFIG, err, "appSecret is required (or run with --dev)");
    assert_int_equal(wxs_config_set(cfg, "app-secret", "s", err, sizeof err), 0);
    assert_int_equal(wxs_config_validate(cfg, err, sizeof err), 0);
    wxs_config_free(cfg);

    cfg = config_new_all();
    assert_int_equal(wxs_config_set(cfg, "simulator-enabled", "true", err, sizeof err), 0);
    assert_int_equal(wxs_config_validate(cfg, err, sizeof err), 0); /* defaults are valid */
    wxs_config_free(cfg);
    assert_int_equal(wxs_config_validate(NULL, err, sizeof err), WXS_EINVAL);
}

/* ------------------------------------------------------------------ help and docs */

/* The naming rule: "redis.timeoutMs" -> WXS_REDIS_TIMEOUT_MS and redis-timeout-ms. */
static void derive_names(const char *name, char *env, char *flag, size_t cap)
{
    size_t e = (size_t)snprintf(env, cap, "WXS_");
    size_t f = 0;
    for (const char *p = name; *p != '\0' && e + 3 < cap && f + 3 < cap; p++) {
        if (*p == '.' || isupper((unsigned char)*p)) {
            env[e++] = '_';
            flag[f++] = '-';
        }
        if (*p != '.') {
            env[e++] = (char)toupper((unsigned char)*p);
            flag[f++] = (char)tolower((unsigned char)*p);
        }
    }
    env[e] = '\0';
    flag[f] = '\0';
}

/* Split a Markdown table row into at most max trimmed cells (modifies row). */
static int split_row(char *row, char **cells, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(row, "|", &save); c != NULL && n < max;
         c = strtok_r(NULL, "|", &save)) {
        while (*c == ' ')
            c++;
        size_t len = strlen(c);
        while (len > 0 && (c[len - 1] == ' ' || c[len - 1] == '\n'))
            c[--len] = '\0';
        cells[n++] = c;
    }
    return n;
}

/* Strip `...` and then "..." around a cell. */
static char *unquote(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
        s[n - 1] = '\0';
        s++;
        n -= 2;
    }
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Every row of docs/config.md follows the naming rule and its default is accepted by set(). */
static void check_markdown_row(char *row, wxs_config *cfg)
{
    char *cells[8];
    char env[96];
    char flag[96];
    char want[256];
    char err[256] = "";
    assert_int_equal(split_row(row, cells, 8), 7);
    char *name = unquote(cells[0]);
    derive_names(name, env, flag, sizeof env);
    snprintf(want, sizeof want, "`--%s`", flag);
    assert_string_equal(cells[1], want);
    snprintf(want, sizeof want, "`%s`", env);
    assert_true(strncmp(cells[2], want, strlen(want)) == 0);
    if (strstr(cells[3], "secret") != NULL) {
        snprintf(want, sizeof want, "`%s`, `%s_FILE`", env, env);
        assert_string_equal(cells[2], want);
    }
    assert_true(strlen(cells[6]) > 5); /* a description */
    if (wxs_config_set(cfg, flag, unquote(cells[4]), err, sizeof err) != 0)
        fail_msg("default of %s rejected: %s", name, err);
}

static void test_markdown(void **state)
{
    wxs_config *docs_cfg = config_new_all();
    char *md = capture(markdown_to, docs_cfg);
    wxs_config_free(docs_cfg);
    assert_non_null(strstr(md, "defaults < config file < environment < command-line flags"));
    assert_non_null(strstr(md, "| option (file key) | flag | env | type | default | range |"));
    assert_non_null(strstr(md, "| `redis.port` | `--redis-port` | `WXS_REDIS_PORT` | integer | "
                               "`6379` | 1 – 65535 |"));
    wxs_config *cfg = config_new_all();
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(md, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "| `", 3) != 0)
            continue;
        check_markdown_row(line, cfg);
        rows++;
    }
    assert_int_equal(rows, 69);
    wxs_config_free(cfg);
    free(md);
}

static void test_help(void **state)
{
    wxs_config *help_cfg = config_new_all();
    char *help = capture(help_to, help_cfg);
    wxs_config_free(help_cfg);
    const char *line = strstr(help, "  --redis-port=N ");
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    const char *want = "Redis port (default 6379; env WXS_REDIS_PORT)";
    const char *found = strstr(line, want);
    assert_true(found != NULL && found < eol);
    assert_non_null(strstr(help, "--store=sqlite|redis "));
    assert_non_null(strstr(help, "--simulator-enabled=BOOL "));
    assert_non_null(strstr(help, "(default \"/applet\"; env WXS_ROUTE_BASE_PATH)"));
    assert_non_null(strstr(help, "--app-secret=SECRET "));
    assert_non_null(strstr(help, "env WXS_APP_SECRET or WXS_APP_SECRET_FILE)"));
    int lines = 0; /* one per option, under one heading per table */
    for (const char *p = strstr(help, "\n  --"); p != NULL; p = strstr(p + 1, "\n  --"))
        lines++;
    assert_int_equal(lines + (strncmp(help, "  --", 4) == 0), 69);
    assert_non_null(strstr(help, "Session layer (libwxsession):\n"));
    assert_non_null(strstr(help, "\nServer (wxsessiond):\n"));
    free(help);
}

/* ------------------------------------------------------------------ allocation failures */

/* The full path (new, file, env with a secret file, set, validate, dump) with its n-th
 * allocation failing: it must fail cleanly with WXS_ENOMEM and leak nothing. */
static char last_err[256];

static int run_with_failure(long n, const char *path)
{
    char err[256] = "";
    int rc = 0;
    fail_at = n;
    alloc_calls = 0;
    wxs_config *cfg = config_new_all();
    if (cfg == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    rc = wxs_config_load_file(cfg, path, err, sizeof err);
    if (rc == 0)
        rc = wxs_config_load_env(cfg, err, sizeof err);
    if (rc == 0)
        rc = wxs_config_set(cfg, "redis.prefix", "x:", err, sizeof err);
    if (rc == 0)
        rc = wxs_config_validate(cfg, err, sizeof err);
    if (rc == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        rc = wxs_config_dump(cfg, devnull);
        fclose(devnull);
    }
out:
    snprintf(last_err, sizeof last_err, "%s", err);
    wxs_config_free(cfg);
    fail_at = -1;
    assert_int_equal(live_allocs, live_at_start);
    return rc;
}

static void test_allocation_failures(void **state)
{
    const char *path = temp_file("{\"appId\": \"wx1\", \"redis\": {\"host\": \"h\"}}");
    setenv("WXS_APP_SECRET_FILE", temp_file("s\n"), 1);
    setenv("WXS_LISTEN", "::1", 1);
    long n = 0;
    int rc;
    while ((rc = run_with_failure(n, path)) != 0) {
        if (rc != WXS_ENOMEM)
            fail_msg("allocation %ld failing gave %d (%s)", n, rc, last_err);
        n++;
        assert_true(n < 10000);
    }
    assert_true(n > 40); /* the loop did exercise failures */
}

int main(void)
{
    wxs_replace_allocator(count_malloc, count_realloc, count_calloc, count_free);
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_defaults),
        T(test_file_nested),
        T(test_file_errors),
        T(test_file_bounds_ok),
        T(test_file_atomic_and_io),
        T(test_set_int_parsing),
        T(test_set_bool),
        T(test_set_strings),
        T(test_set_names),
        T(test_precedence),
        T(test_env_errors),
        T(test_secret_file),
        T(test_secret_file_errors),
        T(test_errors_never_hold_secrets),
        T(test_dump_hides_secrets),
        T(test_dump_round_trip),
        T(test_aliases),
        T(test_validate),
        T(test_markdown),
        T(test_help),
        T(test_allocation_failures),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
